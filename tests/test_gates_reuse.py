"""gates.validate judges with GX on plans built once per suite and schema: the same result as a fresh validation.

The reference is GX used the plain way (a data context, a batch of the frame, the suite validated BOOLEAN_ONLY,
then its failed expectations SUMMARY), as gates.validate did before; the failures expected are worked out by hand.
"""

import functools
import json
import os

import polars as pl
import pytest

from xl_pipelines import gates

SUITE = {"name": "test.reuse", "version": "1", "expectations": [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 5}, "severity": "warning"},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "owner"}, "severity": "critical"},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}, "severity": "critical"},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": "^[0-9]{3}$"},
     "severity": "critical"},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "state", "value_set": ["on", "off"]},
     "severity": "critical"},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["code", "state"]},
     "severity": "critical"},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b",
     "kwargs": {"column_A": "last", "column_B": "first", "or_equal": True}, "severity": "critical"},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "lon", "mostly": 0.83},
     "severity": "warning"},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "score", "min_value": 0, "max_value": 1,
                                                              "mostly": 0.84}, "severity": "warning"},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "extra", "value_set": [1]},
     "severity": "critical"},
]}

CLEAN = pl.DataFrame({
    "id": ["a", "b", "c", "d"], "owner": ["x"] * 4, "code": ["101", "102", "103", "104"],
    "state": ["on", "off", "on", "off"], "first": [1, 1, 1, 1], "last": [1, 2, 3, 4],
    "lon": [121.0, 121.5, 122.0, 122.5], "score": [0.0, 0.5, 1.0, 0.25], "extra": [1, 1, 1, 1]})

# Six rows (one more than allowed), without the column `extra`:
DIRTY = pl.DataFrame({
    "id": ["a", "b", "b", "d", "e", "f"],                   # "b" twice: 2 rows not unique
    "owner": ["x", None, "x", "x", "x", "x"],               # 1 null
    "code": ["101", "102", "1x3", "104", "101", "10"],      # "1x3" and "10" not 3 digits
    "state": ["on", "off", "on", "sleep", "on", "on"],      # "sleep" not in the set; (101, on) twice
    "first": [1, 1, 1, 1, 1, 1], "last": [2, 2, 0, 2, 2, 1],  # row 3: last 0 < first 1 (row 6 equal: allowed)
    "lon": [121.0, None, 121.0, 121.0, 121.0, 121.0],       # 5 of 6 = 0.833 not null: just over mostly 0.83
    "score": [0.1, 0.2, 0.3, 0.4, 0.5, 1.5]})               # 5 of 6 = 0.833 in range: just under mostly 0.84


@functools.cache
def _fresh_batch_definition():
    """A data context and pandas data source of its own, as gates had before it reused plans."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    context = gx.get_context(mode="ephemeral", project_config=config)
    return context.data_sources.add_pandas("fresh").add_dataframe_asset("t").add_batch_definition_whole_dataframe("w")


def fresh(frame: pl.DataFrame, suite: dict) -> gates.SuiteResult:
    """The suite validated on a new batch through Batch.validate, nothing reused but the context."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    def run(configurations, result_format):
        expectations = [ExpectationConfiguration(**c).to_domain_obj() if isinstance(c, dict) else c.to_domain_obj()
                        for c in configurations]
        return batch.validate(gx.ExpectationSuite(name=suite["name"], expectations=expectations),
                              result_format=result_format).results

    batch = _fresh_batch_definition().get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    judged = run(suite["expectations"], {"result_format": "BOOLEAN_ONLY"})
    failed = [r.expectation_config for r in judged if not r.success]
    described = run(failed, {"result_format": "SUMMARY", "partial_unexpected_count": gates.SAMPLE_VALUES}) if failed else []
    return gates.SuiteResult(suite["name"], len(judged), [gates._failure(r) for r in described])


def by_key(result: gates.SuiteResult) -> dict:
    return {(f.expectation, f.column): f for f in result.failures}


def same(result: gates.SuiteResult, other: gates.SuiteResult) -> bool:
    """Equal results, a NaN sample value equal to a NaN (as the report's JSON writes both). In any order: gates names
    failures in the suite's order, GX in its own (by column)."""
    def canonical(suite_result):
        return {**suite_result.as_dict(), "failures": sorted(map(json.dumps, suite_result.as_dict()["failures"]))}
    return json.dumps(canonical(result)) == json.dumps(canonical(other))


def test_a_dirty_frame_fails_as_worked_out_by_hand_and_as_fresh_gx_says():
    result = gates.validate(DIRTY, SUITE)
    failed = by_key(result)
    assert result.evaluated == 10
    assert set(failed) == {
        ("expect_table_row_count_to_be_between", None),
        ("expect_column_values_to_not_be_null", "owner"),
        ("expect_column_values_to_be_unique", "id"),
        ("expect_column_values_to_match_regex", "code"),
        ("expect_column_values_to_be_in_set", "state"),
        ("expect_compound_columns_to_be_unique", "code,state"),
        ("expect_column_pair_values_a_to_be_greater_than_b", None),
        ("expect_column_values_to_be_between", "score"),   # just under its mostly; lon's just over passes
        ("expect_column_values_to_be_in_set", "extra"),     # the column is missing
    }
    counts = {key: (f.unexpected, f.elements, f.sample, f.severity) for key, f in failed.items()}
    unexpected, elements, [null], severity = counts[("expect_column_values_to_not_be_null", "owner")]
    assert (unexpected, elements, severity) == (1, 6, "ERROR") and null != null  # pandas shows the null as NaN
    assert counts[("expect_column_values_to_be_unique", "id")] == (2, 6, ["b", "b"], "ERROR")
    assert counts[("expect_column_values_to_match_regex", "code")] == (2, 6, ["1x3", "10"], "ERROR")
    assert counts[("expect_column_values_to_be_in_set", "state")] == (1, 6, ["sleep"], "ERROR")
    assert counts[("expect_column_values_to_be_between", "score")] == (1, 6, [1.5], "WARN")
    assert failed[("expect_compound_columns_to_be_unique", "code,state")].unexpected == 2
    assert failed[("expect_column_pair_values_a_to_be_greater_than_b", None)].unexpected == 1
    assert failed[("expect_table_row_count_to_be_between", None)].observed == "6"
    missing = failed[("expect_column_values_to_be_in_set", "extra")]
    assert missing.unexpected is None and "extra" in missing.observed and "does not exist" in missing.observed
    assert same(result, fresh(DIRTY, SUITE))  # same failures, with the same words
    listed = [(e["type"], e["kwargs"].get("column") or ",".join(e["kwargs"].get("column_list", [])) or None)
              for e in SUITE["expectations"]]
    positions = [listed.index((f.expectation, f.column)) for f in result.failures]
    assert positions == sorted(positions)  # in the suite's order


def test_plans_built_on_one_frame_judge_the_next_anew():
    """Clean, dirty, clean again (the dirty frame has other columns), and a clean frame that differs only in
    values from the first: each judged on its own values, never served a previous frame's metrics."""
    assert gates.validate(CLEAN, SUITE).passed and fresh(CLEAN, SUITE).passed
    assert same(gates.validate(DIRTY, SUITE), fresh(DIRTY, SUITE))
    assert gates.validate(CLEAN, SUITE).passed
    regex_broken = CLEAN.with_columns(pl.Series("code", ["101", "10x", "103", "104"]))
    result = gates.validate(regex_broken, SUITE)
    assert [(f.expectation, f.unexpected, f.sample) for f in result.failures] == [
        ("expect_column_values_to_match_regex", 1, ["10x"])]
    assert same(result, fresh(regex_broken, SUITE))


def test_the_engine_keeps_no_partition_once_judged():
    gates.validate(DIRTY, SUITE)
    kept = gates._validator().execution_engine.batch_manager.batch_data_cache
    assert list(kept) == [gates.BATCH_ID] and kept[gates.BATCH_ID].dataframe.empty


# Together these suites use every kind of expectation the project's suites use (checked below).
COVERING = ["silver.cameras", "bronze.status_polls", "gold.case_assistance_monthly"]


def kinds(table: str) -> set[str]:
    return {e["type"] for e in gates.load_suite(table)["expectations"]}


def test_the_suites_compared_use_every_kind_of_expectation():
    assert set().union(*map(kinds, COVERING)) == set().union(*map(kinds, gates.suite_tables()))


@pytest.mark.parametrize("table", COVERING)
def test_a_suite_judges_a_frame_of_its_columns_as_fresh_gx(table):
    """A suite on two rows of its own columns holding the wrong kinds of values (text where numbers or times are
    expected, a null, a duplicate, too few rows): whatever GX makes of them, reused plans say the same."""
    suite = gates.load_suite(table)
    columns = sorted({c for e in suite["expectations"] for key in ("column", "column_A", "column_B")
                      if (c := e["kwargs"].get(key))} | {c for e in suite["expectations"]
                                                         for c in e["kwargs"].get("column_list", [])})
    frame = pl.DataFrame({c: ["x", None] if i % 2 else ["x", "x"] for i, c in enumerate(columns)})
    result = gates.validate(frame, suite)
    assert len(result.failures) > len(suite["expectations"]) / 2
    assert same(result, fresh(frame, suite))


def test_the_gx_steps_gates_mirrors_are_those_it_was_written_from():
    """gates._run_suite and gates._judge do what these GX methods do, minus finding the same dependencies on
    every call (read in GX 1.24.1). An upgrade that changes any of them fails here: read them again, and renew
    the digests once gates does what they do."""
    import hashlib
    import inspect

    from great_expectations.expectations.expectation import Expectation
    from great_expectations.validator.validator import Validator

    mirrored = [Validator.graph_validate, Validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration,
                Validator._resolve_suite_level_graph_and_process_metric_evaluation_errors, Expectation.metrics_validate]
    assert {f.__name__: hashlib.sha256(inspect.getsource(f).encode()).hexdigest()[:16] for f in mirrored} == {
        "graph_validate": "179acad7dc6ff0ea",
        "_generate_metric_dependency_subgraphs_for_each_expectation_configuration": "3165fac4b81c0f96",
        "_resolve_suite_level_graph_and_process_metric_evaluation_errors": "99dda1198641308d",
        "metrics_validate": "425294baece92ecc",
    }


def test_gx_orders_a_suite_by_handing_back_the_configurations_it_was_given():
    """The plans are found by the identity of a suite's configurations after GX has ordered them: the ordering must
    hand back the very objects (a copy would build a plan per call and keep every one)."""
    configurations = gates._suite_configurations(SUITE)
    ordered = gates._validator().process_expectations_for_validation(configurations)
    assert sorted(map(id, ordered)) == sorted(map(id, configurations))


# The columns SUITE reads, in DIRTY's order; `notes` and `day` are read by none of its expectations.
READ = ["id", "owner", "code", "state", "first", "last", "lon", "score"]
WITH_UNREAD = DIRTY.with_columns(notes=pl.Series(["x", None, "ü", "", "1e9", "a" * 200]),
                                 day=pl.Series([None, 1, 2, 3, 4, 5]))
NAMED = {**SUITE, "name": "test.reuse.named", "expectations": [*SUITE["expectations"], {
    "type": "expect_table_columns_to_match_set", "kwargs": {"column_set": [*READ, "extra"], "exact_match": True},
    "severity": "critical"}]}


def test_the_suite_reads_the_columns_its_expectations_name_and_no_other():
    assert gates.read_columns(NAMED) == {*READ, "extra"}
    asked = []
    gates.validate_columns(WITH_UNREAD.columns, lambda columns: asked.append(columns) or WITH_UNREAD.select(columns),
                           NAMED)
    # each once, alone: `extra` is not in the table; `notes` and `day` are named by no expectation
    assert sorted(asked) == sorted([column] for column in READ)


def test_expectations_are_judged_in_groups_that_read_no_column_in_common():
    """Each group's columns are read when it is judged; the compound key and the pair join their columns' groups;
    the row count (names alone) and the expectation on the missing column `extra` join the first."""
    configurations = gates._suite_configurations(SUITE)
    groups = gates._groups(configurations, DIRTY.columns, False)
    assert sorted(sorted(columns) for columns, _ in groups) == [
        ["code", "state"], ["first", "last"], ["id"], ["lon"], ["owner"], ["score"]]
    assert sorted(id(c) for _, group in groups for c in group) == sorted(map(id, configurations))
    kinds = {frozenset(columns): [c.type for c in group] for columns, group in groups}
    assert kinds[frozenset({"code", "state"})] == ["expect_column_values_to_match_regex",
                                                    "expect_column_values_to_be_in_set",
                                                    "expect_compound_columns_to_be_unique"]
    assert kinds[frozenset(groups[0][0])][-2:] == ["expect_table_row_count_to_be_between",
                                                   "expect_column_values_to_be_in_set"]  # on `extra`
    assert gates._groups(configurations, DIRTY.columns, True) == [(None, configurations)]


def test_columns_not_read_keep_their_names_for_the_table_level_expectations_and_change_nothing():
    """The unread columns' names reach the column-set expectation (it fails, naming them, as fresh GX says on the
    whole frame), and the row count is the table's: the same result as GX judging every column."""
    result = gates.validate(WITH_UNREAD, NAMED)
    failed = by_key(result)
    assert failed[("expect_table_row_count_to_be_between", None)].observed == "6"
    columns = failed[("expect_table_columns_to_match_set", None)].observed
    assert "notes" in columns and "day" in columns
    assert same(result, fresh(WITH_UNREAD, NAMED))


def test_a_suite_of_table_level_expectations_reads_one_column_for_the_length():
    suite = {"name": "test.reuse.rows", "version": "1", "expectations": [SUITE["expectations"][0]]}
    asked = []
    result = gates.validate_columns(WITH_UNREAD.columns, lambda c: asked.append(c) or WITH_UNREAD.select(c), suite)
    assert asked == [["id"]] and [f.observed for f in result.failures] == ["6"]  # 6 rows, at most 5 allowed


@pytest.mark.parametrize("expectation", [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id", "row_condition": 'notes=="x"',
                                                               "condition_parser": "pandas"}},
    {"type": "expect_table_row_count_to_equal_other_table", "kwargs": {"other_table_name": "t"}},
])
def test_an_expectation_that_may_read_any_column_has_every_column_read(expectation):
    assert gates.read_columns({"expectations": [SUITE["expectations"][1], expectation]}) is None
