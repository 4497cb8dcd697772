"""The demo-scale stage of `make bench`: what harvesting a day costs against writing it, as whole processes.

One simulated day of the nine banners at the demo's size (`xl simulate --cameras 1500`, which also encodes the
day's recording segments and writes a year of case exports) is the floor; `xl materialize` of that same day
(nine banner-days, the month's case export, the city day, the month, views and quality report) is timed against
it in the same run. Then the per-banner-day overhead at city scale: one banner-day of the 30,000-camera
landing of the camera-health bench through `xl materialize --banner`, split by the run's own step timings into
the data's steps, the quality checks' steps and the machinery around them (run start, step boundaries, event
log, process start-up). Goal (issue 21): materialize ≤ 2 × simulate.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DAY = dt.date(2026, 11, 20)
DEMO_CAMERAS = 1500
KEY = "bench-only pseudonym key, not a secret"
XL = [str(Path(sys.executable).parent / "xl")]  # the installed command, as a user runs it
PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


def _xl(args: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and every process it started) `xl …` takes as a process
    of its own (it fails the bench if it fails): CPU is the figure to compare on a shared machine. Wall ends when
    `xl` does (what its user waits for)."""
    _adopt_orphans()
    ours = _children()  # already running (the bench's own helpers): not `xl`'s, not waited for
    before, began = os.times(), time.perf_counter()
    run = subprocess.run([*XL, *args], env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if run.returncode:
        raise RuntimeError(f"xl {' '.join(args)} failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    _reap(_children() - ours)
    after = os.times()
    return wall, after.children_user + after.children_system - before.children_user - before.children_system


def _children() -> set[int]:
    """This process's children (Linux: as the kernel lists them per thread)."""
    return {int(pid) for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()} if sys.platform == "linux" else set()


def _adopt_orphans() -> None:
    """Become the parent of what `xl` leaves running as it exits (its fork server, which reaped the workers), so
    their CPU is counted here once they end; Linux only (elsewhere the workers' CPU goes uncounted)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1)


def _reap(adopted: set[int], patience_s: float = 60.0) -> None:
    """Wait for the `adopted` processes to end (the fork server ends as soon as `xl` has), and for no other: a
    helper of the bench's own (multiprocessing's resource tracker) lives on, and waiting for it added a minute."""
    deadline = time.monotonic() + patience_s
    while adopted and time.monotonic() < deadline:
        for pid in list(adopted):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    adopted.discard(pid)
            except ChildProcessError:
                adopted.discard(pid)
        time.sleep(0.05)


def _environment(home: Path, **more: str) -> dict[str, str]:
    return {**os.environ, "XL_HOME": str(home), "XL_PSEUDONYM_KEY": KEY, **more}


def demo_day(work: Path, cameras: int = DEMO_CAMERAS) -> dict:
    """`xl simulate` of one day, then `xl materialize` of it, both timed as whole processes."""
    home = work / "demo_scale"
    shutil.rmtree(home, ignore_errors=True)
    env, day = _environment(home), DAY.isoformat()
    load = os.getloadavg()[0]
    simulate, simulate_cpu = _xl(["simulate", "--start", day, "--end", day, "--cameras", str(cameras)], env)
    started = time.time()
    harvest, harvest_cpu = _xl(["materialize", "--start", day, "--end", day], env)
    return {"cameras": cameras, "simulate_s": round(simulate, 1), "materialize_s": round(harvest, 1),
            **run_span(home, started),
            "simulate_cpu_s": round(simulate_cpu, 1), "materialize_cpu_s": round(harvest_cpu, 1),
            "ratio": round(harvest / simulate, 2), "cpu_ratio": round(harvest_cpu / simulate_cpu, 2),
            "load": f"{load:.1f} → {os.getloadavg()[0]:.1f}"}


def run_span(home: Path, started: float) -> dict[str, float]:
    """Where a whole `xl materialize` started at `started` (epoch seconds) spends what is not its runs: from
    the process's start to its first run's, and the last run (views and quality report) on its own."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    instance = dg.DagsterInstance.get()
    stats = [(run.job_name, instance.get_run_stats(run.run_id)) for run in instance.get_runs()]
    last = next(s for job, s in stats if job == "warehouse")  # the newest first
    return {"first_run_after_s": round(min(s.start_time for _, s in stats) - started, 1),
            "warehouse_s": round(last.end_time - last.start_time, 1)}


def step_seconds(home: Path, job: str) -> dict[str, float]:
    """The latest run of `job` in the instance under `home`: its wall time and the sums of its asset steps and of
    its check steps (Dagster's own step statistics)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    instance = dg.DagsterInstance.get()
    run = instance.get_runs(dg.RunsFilter(job_name=job), limit=1)[0]
    stats = instance.get_run_stats(run.run_id)
    steps = instance.get_run_step_stats(run.run_id)
    checks = sum(s.end_time - s.start_time for s in steps if s.step_key.endswith("_expectations"))
    assets = sum(s.end_time - s.start_time for s in steps) - checks
    return {"run_s": round(stats.end_time - stats.start_time, 1), "steps": len(steps), "asset_steps_s": round(assets, 1),
            "check_steps_s": round(checks, 1)}


def city_banner_day(work: Path, landing: Path, banner: str) -> dict:
    """One banner-day of the city-scale landing through `xl materialize --banner`: the process, the run, its steps."""
    home = work / "city_banner_day"
    shutil.rmtree(home, ignore_errors=True)
    env = _environment(home, XL_LANDING=str(landing), XL_RECORDINGS=str(landing.parent / "recordings"))
    process, _ = _xl(["materialize", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--banner", banner], env)
    run = step_seconds(home, "banner_day")
    return {"banner": banner, "process_s": round(process, 1), **run,
            "machinery_s": round(run["run_s"] - run["asset_steps_s"] - run["check_steps_s"], 1)}


def demo_scale(work: Path, city_landing: Path | None = None, banner: str = "150581") -> list[str]:
    """The stage's lines for bench/results.md (with the city part when the city-scale landing is there)."""
    demo = demo_day(work)
    lines = [f"## Demo scale: one day of the nine banners, {demo['cameras']:,} cameras, whole processes", "",
             "| process | wall s | CPU s |", "|---|---:|---:|",
             f"| xl simulate (the floor: writes the day's files, encodes its segments) | {demo['simulate_s']} "
             f"| {demo['simulate_cpu_s']} |",
             f"| xl materialize (harvest, checks, gold, city, month, views, quality report) | {demo['materialize_s']} "
             f"| {demo['materialize_cpu_s']} |",
             "", f"materialize / simulate = {demo['ratio']} by wall (≤ 2 wanted: {'yes' if demo['ratio'] <= 2 else 'NO'}), "
             f"{demo['cpu_ratio']} by CPU; load average (1 min) {demo['load']}. The first run starts "
             f"{demo['first_run_after_s']} s after the process; the last (views and quality report) takes "
             f"{demo['warehouse_s']} s.", ""]
    if city_landing is not None and city_landing.is_dir():
        city = city_banner_day(work, city_landing, banner)
        lines += [f"Per banner-day at city scale (banner {city['banner']} of the 30,000-camera landing, "
                  f"`xl materialize --banner`): process {city['process_s']} s, run {city['run_s']} s of which "
                  f"{city['steps']} steps: assets {city['asset_steps_s']} s, expectation checks "
                  f"{city['check_steps_s']} s, and {city['machinery_s']} s of run machinery between steps.", ""]
    return lines


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "work"
    print("\n".join(demo_scale(root, Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
