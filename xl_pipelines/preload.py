"""What the runner's fork server imports once for all its workers (xl_pipelines/fork_server.py).

The fork server first ties its life to `xl`'s (it is started before `xl` has finished its own imports, so a
stopped `xl` must not leave it loading). An error here (say a broken suite file) is left for each worker to meet
again in its run, where it becomes the usual one-line error instead of ending the fork server. Nothing imported
here may compute with Polars at import time: its thread pool, once started in the fork server, deadlocks every
forked worker's first query.
"""

import contextlib
import os

from xl_pipelines.fork_server import PARENT, die_with_parent

die_with_parent(int(os.environ.pop(PARENT)) if PARENT in os.environ else None)
with contextlib.suppress(Exception):
    import great_expectations  # noqa: F401
with contextlib.suppress(Exception):
    import xl_pipelines.definitions  # noqa: F401
