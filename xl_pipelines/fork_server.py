"""The fork server of `xl materialize`'s pool (runner.py): one process that imports Great Expectations and the
code location once (preload.py), from which every worker is forked.

Its preload takes seconds, so `xl materialize` starts it first thing (start), and it loads while the command
itself imports Dagster, checks its arguments and recovers what a killed run left: the first banner-day starts
that much sooner. This module imports nothing heavy, so that it can.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path

import yaml

# What a worker imports before its first banner-day; the fork server imports it once for all of them.
PRELOAD = ["xl_pipelines.preload"]
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends
# What a deployment's dagster.yaml names when runs are executed by others than `xl` (runner.submits_runs).
EXECUTES = {"run_launcher", "run_coordinator"}
PARENT = "XL_FORK_SERVER_PARENT"  # the PID of the `xl` that started the fork server, in its environment alone


def context() -> ForkServerContext:
    """The multiprocessing context whose processes are forked from the fork server."""
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload(PRELOAD)
    return server


def start() -> None:
    """Start the fork server now, unless runs will be submitted to a deployment's instance (xl's own
    dagster.yaml names no run launcher or coordinator; a file that cannot be read is left for the runner to
    say so). It ends with this process (die_with_parent)."""
    if not executed_elsewhere():
        context()
        os.environ[PARENT] = str(os.getpid())  # for the fork server alone: `xl` may be killed before it is ready
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through exec (unlike the mask, here):
        try:  # Ctrl-C reaches no part of its preload (die_with_parent then blocks it, for it and its workers)
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, previous)
            del os.environ[PARENT]


@contextlib.contextmanager
def ctrl_c_withheld() -> Iterator[None]:
    """Ctrl-C reaches the terminal's whole process group. A process started in here by fork, or fork and exec
    (subprocess, multiprocessing's spawn), has SIGINT blocked for life (the signal mask is inherited, whatever
    handler Python or Dagster installs later), so only `xl` is interrupted, and it stops the rest. A Ctrl-C
    meanwhile reaches `xl` once the start is done. (multiprocessing starts the fork server without the mask:
    see start.)"""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def home_config() -> tuple[Path, dict] | None:
    """$DAGSTER_HOME and the settings its dagster.yaml holds; None without one. ValueError, saying where, for a
    file that is not a mapping of settings (runner.deployed says it as a configuration error)."""
    home = os.environ.get("DAGSTER_HOME")
    config = Path(home, "dagster.yaml") if home else None
    if config is None or not config.is_file():
        return None
    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise TypeError(f"a {type(loaded).__name__}, not a mapping of settings")
    except (yaml.YAMLError, TypeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValueError(f"{config} (DAGSTER_HOME) is not a Dagster instance configuration: "
                         f"{getattr(exc, 'problem', None) or exc}{where}") from None
    return Path(home), loaded


def executed_elsewhere() -> bool:
    """Whether $DAGSTER_HOME's instance names who executes runs (as runner.submits_runs judges it); a file that
    cannot be read is left for the runner to say so."""
    try:
        found = home_config()
    except (ValueError, OSError):
        return False
    return bool(found and EXECUTES & found[1].keys())


def die_with_parent(parent: int | None = None) -> None:
    """This process (the fork server, a worker) is killed when the process that started it ends, however it
    ends: a killed `xl` leaves nothing loading or writing on; with `parent` (its PID), it ends at once if that
    one has ended already. Ctrl-C is blocked here, as in the processes it starts (ctrl_c_withheld): a worker's
    run installs Dagster's handler, and the log tailers the run starts printed their KeyboardInterrupt."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # adopted: the parent ended before the line above
        os._exit(0)
