"""The Celery side of the distributed profile (deploy/dagster.distributed.yaml; needs the `distributed` extra):
the run launcher the daemon uses, and what each worker (`dagster-celery worker start … -i
xl_pipelines.celery_worker`) does besides executing runs: tag each run with its name.
"""

from __future__ import annotations

import dagster as dg
from celery.signals import task_prerun
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._serdes import unpack_value
from dagster_celery.launcher import CeleryRunLauncher as _CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from xl_pipelines.distributed import WORKER


class CeleryRunLauncher(_CeleryRunLauncher):
    """dagster-celery's run launcher, whose health check also asks the worker that took a run whether it is
    still there: a worker killed with its machine leaves its task STARTED in the result backend forever, and
    its run would stay STARTED (lost, silently) instead of being failed and retried by the daemon."""

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        result = super().check_run_worker_health(run)
        if result.status != WorkerStatus.RUNNING:
            return result
        task = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG])
        worker = task.info.get("hostname") if isinstance(task.info, dict) else None  # STARTED: pid, hostname
        if worker and not self.celery.control.ping(destination=[worker], timeout=3.0):
            return CheckRunHealthResult(WorkerStatus.FAILED, f"Celery worker {worker} that took the run does not answer")
        return result


def tag_worker(sender=None, args=None, kwargs=None, **_) -> None:
    """Celery's task_prerun in a worker (started with `-i xl_pipelines.celery_worker`): tag the run it takes with
    the worker's name (`xl/worker`), so the UI and `xl` show which machine executed it."""
    packed = (kwargs or {}).get("execute_job_args_packed")
    if packed is None:
        return
    run_args = unpack_value(packed)  # ExecuteRunArgs or ResumeRunArgs
    with dg.DagsterInstance.get() as instance:
        instance.add_run_tags(run_args.run_id, {WORKER: sender.request.hostname})


task_prerun.connect(tag_worker, weak=False)  # in a worker; nothing runs tasks in the daemon or in xl
