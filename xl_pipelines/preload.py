"""What the runner's fork server imports once for all its workers (xl_pipelines/fork_server.py).

The fork server first ties its life to `xl`'s (it is started before `xl` has finished its own imports, so a
stopped `xl` must not leave it loading). An error here (say a broken suite file) is left for each worker to meet
again in its run, where it becomes the usual one-line error instead of ending the fork server. Nothing imported
here may compute with Polars at import time: its thread pool, once started in the fork server, deadlocks every
forked worker's first query.

The imports make only objects that live as long as the process, so no garbage collection runs while they load
(a tenth of their time), and they are frozen after (gc.freeze): the workers' collections skip them, instead of
walking them all at each full collection (a fifth of a second each). Unfrozen at exit, so the interpreter's
own clean-up still sees them.
"""

import atexit
import contextlib
import gc
import os

from xl_pipelines.fork_server import PARENT, die_with_parent

die_with_parent(int(os.environ.pop(PARENT)) if PARENT in os.environ else None)
gc.disable()
try:
    with contextlib.suppress(Exception):
        import great_expectations  # noqa: F401
    with contextlib.suppress(Exception):
        import xl_pipelines.definitions  # noqa: F401
finally:
    gc.freeze()
    gc.enable()
    atexit.register(gc.unfreeze)
