"""What the runner's fork server imports once for all its workers (xl_pipelines/runner.py).

An error here (say a broken suite file) is left for each worker to meet again in its run, where it becomes the
usual one-line error instead of ending the fork server.
"""

import contextlib

with contextlib.suppress(Exception):
    import great_expectations  # noqa: F401
with contextlib.suppress(Exception):
    import xl_pipelines.definitions  # noqa: F401
