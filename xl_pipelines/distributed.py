"""Runs through the Dagster instance, whoever executes them: submit partitions as runs, follow them to the end
(through run retries), read back what they said, cancel them. Needs only dagster (the Celery side of the
distributed profile is xl_pipelines.celery_worker).

With the embedded instance a submitted run is launched on this machine; with the distributed profile it
waits in the queue until the daemon hands it to a Celery worker. The caller does not know which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"
LOCATION = "xl"  # workspace.yaml's location_name
# Each run executes its steps in the process that took it (no process per step: a worker is one core), and
# logs only failures: the progress line says the rest.
RUN_CONFIG = {"execution": {"config": {"in_process": {}}},
              "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
WILL_RETRY, PARENT = "dagster/will_retry", "dagster/parent_run_id"
WORKER = "xl/worker"  # the Celery worker that executed a run (celery_worker.tag_worker)
SUBMITTER = "xl/submitter"  # host/pid of the `xl materialize` that submitted a run (and cancels it when stopped)
# Dagster stores a run's failure, then tags whether it will be retried: how long a failed run may stay untagged
# before its failure is taken as final (the process that stored it died between the two).
RETRY_TAG_GRACE_S = 30.0


@contextmanager
def workspace(instance: dg.DagsterInstance) -> Iterator:
    """The code location as the daemon sees it (workspace.yaml, loaded in a code server process)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    # its start and stop are not news on `xl materialize`'s terminal: only an error is
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(WORKSPACE)]), code_server_log_level="ERROR") as context:
        yield context.create_request_context()


def submit(instance: dg.DagsterInstance, context, job_name: str, partition_key: str | None = None,
           tags: dict[str, str] | None = None) -> str:
    """Create one run of `job_name` (for `partition_key`) and submit it to the instance's run coordinator;
    return its run ID."""
    from xl_pipelines.definitions import defs

    location = context.get_code_location(LOCATION)  # a clear error if it failed to load
    repository = next(iter(location.get_repositories().values()))
    job = repository.get_full_job(job_name)
    partitions = defs.resolve_job_def(job_name).partitions_def
    tags = {**job.tags, **(partitions.get_tags_for_partition_key(str(partition_key)) if partition_key else {}),
            **(tags or {})}
    plan = location.get_execution_plan(job, RUN_CONFIG, step_keys_to_execute=None, known_state=None,
                                       instance=instance).execution_plan_snapshot
    run = instance.create_run(
        job_name=job_name, run_id=None, run_config=RUN_CONFIG, resolved_op_selection=None,
        step_keys_to_execute=plan.step_keys_to_execute, op_selection=None, status=None, root_run_id=None,
        parent_run_id=None, tags=tags, job_snapshot=job.job_snapshot, execution_plan_snapshot=plan,
        parent_job_snapshot=job.parent_job_snapshot, remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(), asset_selection=None, asset_check_selection=None,
        asset_graph=repository.asset_graph)
    instance.submit_run(run.run_id, context)
    return run.run_id


def latest_attempt(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    """The run, or the retry the daemon made of it (and of that retry…): the attempt that stands."""
    run = instance.get_run_by_id(run_id)
    while run.tags.get(WILL_RETRY) == "true":
        retries = instance.get_runs(dg.RunsFilter(tags={PARENT: run.run_id}), limit=1)
        if not retries:
            return run  # failed, retry not created yet
        run = retries[0]
    return run


def follow(instance: dg.DagsterInstance, run_ids: list[str], say: Callable[[dg.DagsterRun], None] = lambda run: None,
           poll_s: float = 2.0, timeout_s: float = 3600.0, sleep: Callable[[float], None] = time.sleep
           ) -> dict[str, dg.DagsterRun]:
    """Wait until every run (or its last retry) has finished; `say` each as it does. Returns the final attempt
    per submitted run ID. A run failed and awaiting its retry is not finished."""
    done: dict[str, dg.DagsterRun] = {}
    untagged: dict[str, float] = {}  # failed run → when it was first seen failed, not yet tagged
    deadline = time.monotonic() + timeout_s
    while len(done) < len(run_ids):
        for run_id in run_ids:
            if run_id in done:
                continue
            run = latest_attempt(instance, run_id)
            if run.status in FINISHED and not _retry_pending(instance, run, untagged):
                done[run_id] = run
                say(run)
        if len(done) < len(run_ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(run_ids) - len(done)} run(s) still unfinished after {timeout_s:.0f}s")
            sleep(poll_s)
    return done


def _retry_pending(instance: dg.DagsterInstance, run: dg.DagsterRun, untagged: dict[str, float]) -> bool:
    """A finished run whose retry may still come: tagged to be retried, or failed where retries are enabled and
    not tagged yet (for at most RETRY_TAG_GRACE_S)."""
    if run.tags.get(WILL_RETRY) == "true":
        return True
    if run.status != dg.DagsterRunStatus.FAILURE or WILL_RETRY in run.tags or not instance.run_retries_enabled:
        return False
    return time.monotonic() - untagged.setdefault(run.run_id, time.monotonic()) < RETRY_TAG_GRACE_S


def cancel(instance: dg.DagsterInstance, run_ids: list[str], why: str = "cancelled by the xl that submitted it"
           ) -> int:
    """Cancel the runs not yet finished; how many. A queued one is dropped from the queue; a launched one is
    terminated by its launcher (Celery revokes its task, killing the process that executes it) and marked
    CANCELED here, since a killed run process reports nothing (and run monitoring would fail and retry it); a
    worker given a CANCELED run does not start it."""
    cancelled = 0
    for run_id in run_ids:
        run = latest_attempt(instance, run_id)
        if run.status in FINISHED:
            continue
        if run.status == dg.DagsterRunStatus.QUEUED:
            instance.run_coordinator.cancel_run(run.run_id)
        else:
            instance.report_run_canceling(run, message=why)
            if run.status != dg.DagsterRunStatus.NOT_STARTED:  # created, never submitted: nothing to terminate
                instance.run_launcher.terminate(run.run_id)
        if (run := instance.get_run_by_id(run.run_id)).status not in FINISHED:
            instance.report_run_canceled(run, message=why)
        cancelled += 1
    return cancelled


def run_events(instance: dg.DagsterInstance, run_id: str) -> tuple[list, list[str]]:
    """What a finished run said, read back from the instance's event log as `xl materialize` reads an in-process
    result: its asset check evaluations, and the first line of each step failure."""
    types = {dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.DagsterEventType.STEP_FAILURE}
    events = [record.event_log_entry.dagster_event
              for record in instance.get_records_for_run(run_id, of_type=types, limit=100_000).records]
    evaluations = [e.event_specific_data for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    failures = [e.event_specific_data.error.message.strip().splitlines()[0] for e in events
                if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.event_specific_data.error]
    return evaluations, failures
