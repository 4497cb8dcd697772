"""The `xl` command: simulate, materialize, sql, report, demo. Errors are one line on stderr, exit code 2."""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from xl_pipelines.settings import LOCAL_TZ, ConfigError, Stopped, get_settings, is_folder, local_folder

FORMATS = ("table", "csv", "json")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-20") from None


def _yesterday() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=1)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_simulate(args: argparse.Namespace) -> int:
    from xl_pipelines.simulator import simulate

    settings = get_settings()
    end = args.end or _yesterday()
    start = args.start or end - dt.timedelta(days=args.days - 1)
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    began = time.perf_counter()
    counts = simulate(*_simulation_folders(settings), days, cameras=args.cameras,
                      seed=args.seed, progress=lambda _day, _code, line: _say(line), via=getattr(args, "via", None))
    _say(_simulated(days, settings.landing, time.perf_counter() - began, counts))
    return 0


def _simulation_folders(settings) -> tuple[Path, Path]:
    """Where the simulator writes: the landing zone and the recordings, local folders only."""
    return (local_folder(settings.landing, "XL_LANDING", "xl simulate"),
            local_folder(settings.recordings, "XL_RECORDINGS", "xl simulate"))


def _simulated(days: list[dt.date], landing: Path, seconds: float, counts: dict[str, int]) -> str:
    return (f"simulated {days[0]} … {days[-1]} into {landing} in {seconds:.1f}s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


def _simulate_into(lines, landing: Path, recordings: Path, days: list[dt.date], cameras: int, seed: int,
                   registry_only: tuple[dt.date, ...]) -> None:
    """The demo's simulator, a process of its own: each banner-day it has written (its day and code, and the line
    it says), then its summary or its error, go to the queue `lines` as (kind, line, banner-day or None)."""
    from xl_pipelines import fork_server
    from xl_pipelines.simulator import simulate

    fork_server.die_with_parent()  # `xl` killed before its stop handling begins: nothing simulates on
    began = time.perf_counter()
    try:
        counts = simulate(landing, recordings, days, cameras=cameras, seed=seed, registry_only=registry_only,
                          progress=lambda day, code, line: lines.put(("written", line, (day, code))))
    except (ConfigError, OSError) as exc:
        lines.put(("error", f"xl simulate: {exc}", None))
        return
    lines.put(("done", _simulated(days, landing, time.perf_counter() - began, counts), None))


class _Simulation:
    """The demo's days simulated in a process of their own while they are harvested (runner.Arrivals): the
    simulator writes one banner-day after another and says so, so each is harvested once written while the next
    is simulated, on the core the harvest leaves free (the two took turns before, bench/profile.md)."""

    def __init__(self, days: list[dt.date], cameras: int, seed: int, registry_only: tuple[dt.date, ...] = ()):
        import multiprocessing

        folders = _simulation_folders(get_settings())
        spawn = multiprocessing.get_context("spawn")  # a clean process: this one may have started Polars' threads
        self.lines = spawn.Queue()
        self.process = spawn.Process(target=_simulate_into, args=(self.lines, *folders, days, cameras, seed, registry_only),
                                     daemon=True)
        self.written: set[tuple[dt.date, str]] = set()
        self.ended = False

    def __enter__(self) -> _Simulation:
        from xl_pipelines import fork_server

        with fork_server.ctrl_c_withheld():  # Ctrl-C is the demo's to handle: it ends this process
            self.process.start()
        return self

    def __exit__(self, *_exc) -> None:
        if self.process.is_alive():  # stopped, or the harvest failed: nothing simulates on
            self.process.kill()
        self.process.join()

    def _next(self) -> None:
        """Say the simulator's next line, noting the banner-day it wrote."""
        import queue

        while True:
            try:
                kind, text, written = self.lines.get(timeout=1)
                break
            except queue.Empty:
                if not self.process.is_alive():
                    raise ConfigError(f"xl simulate ended before it finished (exit code {self.process.exitcode})") from None
        if kind == "error":
            raise ConfigError(text)
        _say(text)
        self.ended = kind == "done"
        if written:
            self.written.add(written)

    def banner_day(self, day: dt.date, banner: str) -> None:
        while (day, banner) not in self.written:
            if self.ended:
                raise ConfigError(f"xl simulate wrote no {day} {banner}")
            self._next()

    def complete(self) -> None:
        while not self.ended:
            self._next()


def cmd_receive(args: argparse.Namespace) -> int:
    from xl_pipelines.receiver import options_from, serve

    settings = get_settings()
    options = options_from(args, local_folder(settings.landing, "XL_LANDING", "xl receive"))
    _say(f"xl receive: GA/T 1400 on http://{args.host}:{args.port}/VIID/, logs under {settings.landing}"
         + (" (replay: loopback, no registration)" if options.replay else " (open: no registration)"
            if options.open_access else f" ({len(options.devices)} devices may register)"))
    serve(options, args.host, args.port)
    return 0


def _banners(args: argparse.Namespace) -> list[str]:
    from xl_pipelines.banners import load_banners

    codes = load_banners().codes
    if args.banner and args.banner not in codes:
        raise ConfigError(f"--banner {args.banner} is not one of the nine codes: {', '.join(codes)}")
    return [args.banner] if args.banner else codes


def cmd_materialize(args: argparse.Namespace) -> int:
    from xl_pipelines import fork_server
    from xl_pipelines.lake import Lake
    from xl_pipelines.pseudonym import checked_key, key_from_environment

    settings = get_settings()
    key_from_environment()  # no harvest of personal data without a strong key: say so before any work
    if not is_folder(settings.landing, "XL_LANDING"):
        raise ConfigError(f"no landing zone at {settings.landing}: run `xl simulate` or set XL_LANDING")
    fork_server.start()  # the workers' imports load meanwhile
    from xl_pipelines.runner import days_between, materialize

    checked_key(Lake(settings.lake_url))  # and none with another key than the lake's (the asset checks again)
    days = days_between(args.start, args.end, settings)
    outcome = materialize(days, _banners(args), settings, say=_say)
    _report_outcome(outcome, settings)
    return 0 if outcome.ok else 1


def _report_outcome(outcome, settings) -> None:
    if outcome.blocked:
        _say(f"{len(outcome.blocked)} partition(s) stopped by a blocking quality check: {', '.join(outcome.blocked)} "
             f"(why: {settings.reports / 'quality' / 'index.html'})")
    if outcome.failed:
        _say(f"{len(outcome.failed)} partition(s) failed: {', '.join(outcome.failed)} (details in the Dagster UI: make dev)")


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb
    import polars as pl

    from xl_pipelines.analyst_sql import check
    from xl_pipelines.display import visible
    from xl_pipelines.warehouse import banner_path, connect_readonly

    path = get_settings().warehouse_path
    if args.banner:
        path = banner_path(path, _banners(args)[0])
    try:
        check(args.query)
        with connect_readonly(path) as con:
            frame = con.sql(args.query).pl()
    except duckdb.Error as exc:  # its message may quote the data: hidden characters shown
        raise ConfigError(visible(str(exc).splitlines()[0])) from None
    except pl.exceptions.PolarsError:  # a DuckDB type with no Polars form
        raise ConfigError("a column's type (e.g. INTERVAL or UNION) cannot be shown: turn it into text in the "
                          "query (e.g. column::VARCHAR)") from None
    _print(frame, args.format)
    return 0


def _print(frame, fmt: str) -> None:
    """Results for people: CSV safe to open in a spreadsheet, tables with hidden characters shown."""
    import polars as pl

    from xl_pipelines.analyst_sql import csv_text
    from xl_pipelines.display import visible_frame

    if fmt == "csv":
        sys.stdout.write(csv_text(frame))
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=200, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=40, tbl_hide_dataframe_shape=True):
            print(visible_frame(frame))


def _month(text: str) -> str:
    try:
        return dt.datetime.strptime(text, "%Y-%m").strftime("%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2026-11") from None


def cmd_report(args: argparse.Namespace) -> int:
    from xl_pipelines.lake import Lake
    from xl_pipelines.report import write_report

    settings = get_settings()
    print(write_report(Lake(settings.lake_url), args.month, settings.reports))
    return 0


def cmd_worklist(args: argparse.Namespace) -> int:
    from xl_pipelines.lake import Lake
    from xl_pipelines.worklist import write_worklist

    settings = get_settings()
    code = _banners(args)[0] if args.banner else None
    page, table = write_worklist(Lake(settings.lake_url), args.date or _yesterday(), settings.reports, code)
    print(page)
    print(table)
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from xl_pipelines.lake import Lake
    from xl_pipelines.pseudonym import rotate_key

    record = rotate_key(Lake(get_settings().lake_url))
    _say(f"the lake's pseudonym key is now the one in XL_PSEUDONYM_KEY (recorded {record['recorded_at']}); "
         "partitions materialised before keep the old key's pseudonyms, so joins across this moment break until "
         "you re-materialise the days still in the landing zone (xl materialize --start … --end …)")
    return 0


def cmd_privacy_scan(args: argparse.Namespace) -> int:
    from xl_pipelines.privacy_scan import scan

    settings = get_settings()
    landing = local_folder(settings.landing, "XL_LANDING", "xl privacy-scan")
    if not landing.is_dir():
        raise ConfigError(f"no landing zone at {landing}: nothing to seek (set XL_LANDING)")
    result = scan(settings.home, landing, local_folder(settings.recordings, "XL_RECORDINGS", "xl privacy-scan"))
    for leak in result.leaks:
        print(leak.line())
    for where in result.unreadable:
        print(f"not searched through (a decoder refused it): {where}")
    print(result.summary())
    return 1 if result.leaks or result.unreadable else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from xl_pipelines import fork_server, pseudonym
    from xl_pipelines.lake import Lake

    settings = get_settings()
    if not os.environ.get(pseudonym.KEY_VARIABLE):
        os.environ[pseudonym.KEY_VARIABLE] = pseudonym.DEVELOPMENT_KEY
        _say(f"{pseudonym.KEY_VARIABLE} is not set: the demo pseudonymises with the DEVELOPMENT key "
             f"{pseudonym.DEVELOPMENT_KEY!r}, which is public; never use it for real data")
    pseudonym.checked_key(Lake(settings.lake_url))
    fork_server.start()  # the workers' imports load meanwhile
    end = _yesterday()
    start = end - dt.timedelta(days=6)
    from xl_pipelines.report import report_path
    from xl_pipelines.runner import check_freshness, days_between, materialize
    from xl_pipelines.simulator import CASE_MONTHS
    from xl_pipelines.simulator.cases import months_back
    from xl_pipelines.warehouse import connect_readonly

    history = [m.strftime("%Y-%m") for m in months_back(end, CASE_MONTHS) if m >= settings.start_date.replace(day=1)]
    days = days_between(start, end, settings)
    # and the registry of the day before, which a running deployment would have: the week's first day falls back on it
    before = start - dt.timedelta(days=1)
    with _Simulation([before, *days], args.cameras, args.seed, registry_only=(before,)) as simulation:
        outcome = materialize(days, _banners(argparse.Namespace(banner=None)), settings, _say, case_months=history,
                              registry_from=before, arrivals=simulation)
    outcome.checks.update(check_freshness(settings).checks)

    month = end.strftime("%Y-%m")
    with connect_readonly(settings.warehouse_path) as con:
        monthly = _print_indicators(con, month, start, end)
        outcomes = con.sql(
            "SELECT coalesce(code, 'city') AS code, if(grouping(code) = 1, 'the whole city', any_value(banner_name)) "
            "AS banner, sum(criminal_cases_assisted)::BIGINT AS criminal, "
            "sum(administrative_cases_assisted)::BIGINT AS administrative, sum(suspects_caught)::BIGINT AS suspects, "
            "sum(accident_replays)::BIGINT AS accident_replays, sum(missing_persons_found)::BIGINT AS missing_found, "
            "sum(assistance_served)::BIGINT AS assistance FROM gold.case_assistance_monthly "
            "GROUP BY ROLLUP (code) ORDER BY grouping(code), code").pl()
        schools = con.sql(
            "SELECT zone_id, any_value(name_en) AS school, any_value(cameras) AS cameras, "
            "round(sum(online_s) / nullif(sum(expected_s), 0), 4) AS availability "
            "FROM gold.school_zone_availability WHERE school_day GROUP BY zone_id ORDER BY zone_id").pl()
        problems = con.sql(
            "SELECT source, problem, count(*) AS segments FROM silver.recording_segments "
            "WHERE problem IS NOT NULL GROUP BY ALL ORDER BY source, segments DESC").pl()
        faults = con.sql(
            "SELECT fault, count(DISTINCT channel_id) AS cameras FROM (SELECT channel_id, unnest(image_faults) AS fault "
            "FROM silver.image_diagnosis) GROUP BY fault ORDER BY cameras DESC").pl()
        rejected = con.sql(
            "SELECT 'catalog' AS source, reason, count(*) AS records FROM quarantine.catalog GROUP BY ALL "
            "UNION ALL SELECT 'status_polls', reason, count(*) FROM quarantine.status_polls GROUP BY ALL "
            "UNION ALL SELECT 'device_status', reason, count(*) FROM quarantine.device_status GROUP BY ALL "
            "UNION ALL SELECT 'record_index', reason, count(*) FROM quarantine.record_index GROUP BY ALL "
            "UNION ALL SELECT 'recordings', reason, count(*) FROM quarantine.recordings GROUP BY ALL "
            "UNION ALL SELECT 'captures', reason, count(*) FROM quarantine.captures GROUP BY ALL "
            "UNION ALL SELECT 'cases', reason, count(*) FROM quarantine.cases GROUP BY ALL "
            "ORDER BY source, records DESC").pl()
    print(f"\nOutcomes of video by banner over the {CASE_MONTHS} months of case export (video-assisted cases only; "
          "the last row is the city):")
    _print(outcomes, "table")
    print("\nCamera availability around schools at school hours (07:00–08:30, 16:00–18:00), school days of the week:")
    _print(schools, "table")
    print("\nRecording problems found (segment files and device index, reconciled):")
    _print(problems, "table")
    print("\nImage faults found by the video-quality diagnosis (cameras):")
    _print(faults, "table")
    print("\nSet aside in quarantine (with file, line or item, and reason; see quarantine.* views):")
    _print(rejected, "table")
    print("\nQuality checks (partitions per outcome; warnings name what to look at, errors stop gold):")
    _print(_check_table(outcome.checks), "table")
    _report_outcome(outcome, settings)
    print(f"\nQuality report (offline HTML): {settings.reports / 'quality' / 'index.html'}")
    covered = (monthly["days"].max(), monthly["days_in_month"].max()) if monthly.height else None
    if covered and covered[0] is not None:
        partial = f", a partial month: {covered[0]} of {covered[1]} days" if covered[0] < covered[1] else ""
        print(f"Leadership report for {month}{partial} (offline HTML, 中文/English): {report_path(settings.reports, month)}")
    _print_open_faults(settings, end)
    print(f"DuckDB views (read-only for analysts): {settings.warehouse_path}")
    print('Try: xl sql "select * from gold.banner_daily_kpis order by date, code"   ·   make dev for the UI')
    return 0 if outcome.ok else 1


def _print_indicators(con, month: str, start: dt.date, end: dt.date):
    """Print the network indicators as gold holds them (nothing recomputed), labelled from the registry: each
    banner's month so far, and the city's days from `start` to `end`; return the month's rows."""
    from xl_pipelines.indicators import judged

    shown = judged()
    monthly = con.sql(
        "SELECT rank, code, banner_name_zh AS 旗县区, banner_name AS banner, cameras, days, days_in_month, "
        "targets_met, indicators_measured, COLUMNS(lambda c: list_contains($rates, c)) FROM gold.banner_monthly_kpis "
        "WHERE month = $month ORDER BY rank, code", params={"rates": [i.name for i in shown], "month": month}).pl()
    city = con.sql(
        "SELECT date, banners_reporting, cameras, captures, COLUMNS(lambda c: list_contains($rates, c)), volume_change "
        "FROM gold.city_daily_kpis WHERE date BETWEEN $start AND $end ORDER BY date",
        params={"rates": [i.name for i in shown], "start": start, "end": end}).pl()
    print(f"\nNetwork indicators by banner, {month} so far (gold.banner_monthly_kpis: each rate Σ numerator / Σ "
          "denominator over the days covered; ranked by the share of measured indicators at target):")
    print("  " + " · ".join(f"{i.name} {i.zh} ≥ {i.target:.0%}" for i in shown))
    half = 9 + len(shown) // 2
    _print(monthly[:, :half], "table")
    _print(monthly.select("code", *monthly.columns[half:]), "table")
    print(f"\nThe city day by day, {start} … {end} (gold.city_daily_kpis: all nine banners' numerators and "
          "denominators summed; a day waits for all nine):")
    _print(city, "table")
    return monthly


def _print_open_faults(settings, day: dt.date) -> None:
    """The governance team's view of the last day: open faults per banner, and where the worklist page is."""
    from xl_pipelines.gates import load_thresholds
    from xl_pipelines.warehouse import connect_readonly
    from xl_pipelines.worklist import worklist_path

    page = worklist_path(settings.reports, day)
    if not page.exists():
        return
    with connect_readonly(settings.warehouse_path) as con:
        summary = con.sql(
            "SELECT code, count(*) AS open_faults, count(*) FILTER (WHERE key_site) AS at_key_sites, "
            "count(*) FILTER (WHERE as_of >= overdue_from) AS overdue, "
            "count(*) FILTER (WHERE opened_on = as_of) AS new_today, max(days_open) AS longest_open_days, "
            "count(DISTINCT maintenance_unit) AS units FROM gold.camera_faults "
            "WHERE closed_on IS NULL AND as_of = $day GROUP BY code ORDER BY overdue DESC, code", params={"day": day}).pl()
    limits = load_thresholds().limits
    print(f"\nOpen camera faults on {day} by banner (gold.camera_faults; overdue: open past "
          f"{limits['repair_hours_key_site']:g} h at key sites, {limits['repair_hours']:g} h elsewhere):")
    _print(summary, "table")
    print(f"Worklist for {day} (offline HTML; the open faults as CSV beside it): {page}")


def _check_table(checks):
    """(table, check, status) counts as one row per check with passed / warn / error columns."""
    from collections import Counter

    import polars as pl

    by_check: dict[tuple[str, str], Counter] = {}
    for (table, check, status), n in checks.items():
        by_check.setdefault((table, check), Counter())[status] += n
    return pl.DataFrame([{"table": t, "check": c, "passed": k["passed"], "warn": k["WARN"], "error": k["ERROR"]}
                         for (t, c), k in sorted(by_check.items())],
                        schema={"table": pl.String, "check": pl.String, "passed": pl.Int64, "warn": pl.Int64,
                                "error": pl.Int64})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xl", description="Tongliao Sharp Eyes video-network lakehouse.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("simulate", help="write simulated native files into the landing zone")
    s.add_argument("--start", type=_date, help="first day (default: --days before --end)")
    s.add_argument("--end", type=_date, help="last day (default: yesterday, local time)")
    s.add_argument("--days", type=int, default=7, help="number of days when --start is not given (default 7)")
    s.add_argument("--cameras", type=int, default=1500, help="cameras in the whole city (default 1500)")
    s.add_argument("--seed", type=int, default=20261124)
    s.add_argument("--via", metavar="URL", help="post the GA/T 1400 captures to a receiver started with `xl receive "
                                                "--replay` (e.g. http://127.0.0.1:1400) instead of writing their logs")
    s.set_defaults(func=cmd_simulate)

    from xl_pipelines.receiver import add_arguments

    c = sub.add_parser("receive", help="the GA/T 1400 view library: cameras push captures, written to the landing zone")
    add_arguments(c)
    c.set_defaults(func=cmd_receive)

    m = sub.add_parser("materialize", help="harvest and refine days (all nine banners unless --banner)")
    m.add_argument("--start", type=_date, required=True)
    m.add_argument("--end", type=_date, required=True)
    m.add_argument("--banner", help="one 6-digit banner code")
    m.set_defaults(func=cmd_materialize)

    q = sub.add_parser("sql", help="run a read-only query against the DuckDB views")
    q.add_argument("query")
    q.add_argument("--format", choices=FORMATS, default="table")
    q.add_argument("--banner", help="one 6-digit banner code: its own rows only (city-wide tables whole)")
    q.set_defaults(func=cmd_sql)

    r = sub.add_parser("report", help="write the monthly leadership report (HTML) from the gold tables")
    r.add_argument("--month", type=_month, required=True, help="e.g. 2026-11 (a month under way gives a partial report)")
    r.set_defaults(func=cmd_report)

    w = sub.add_parser("worklist", help="write a day's worklist of camera faults (HTML) and its open faults (CSV)")
    w.add_argument("--date", type=_date, help="the day (default: yesterday, local time)")
    w.add_argument("--banner", help="one 6-digit banner code: its own page")
    w.set_defaults(func=cmd_worklist)

    k = sub.add_parser("rotate-key", help="make XL_PSEUDONYM_KEY the lake's pseudonym key from now on "
                                          "(the current one in XL_PSEUDONYM_OLD_KEY)")
    k.set_defaults(func=cmd_rotate_key)

    v = sub.add_parser("privacy-scan", help="search all of XL_HOME but the landing zone and recordings for the "
                                            "plates, ID numbers, names and capture IDs the landing zone holds")
    v.set_defaults(func=cmd_privacy_scan)

    d = sub.add_parser("demo", help="simulate the last 7 days (and a year of cases), materialise everything, "
                                    "print the KPIs, write the month's leadership report")
    d.add_argument("--cameras", type=int, default=1500)
    d.add_argument("--seed", type=int, default=20261124)
    d.set_defaults(func=cmd_demo)
    return p


FULL_DISK = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
             errno.EFBIG: "a file would exceed the file-size limit"}


def full_disk(exc: BaseException, home: Path) -> str | None:
    """Why nothing more can be written, if `exc` (or what caused it: SQLite under SQLAlchemy, a Parquet write
    in a worker process) comes down to a full disk; else None. SQLite says "disk I/O error" when it cannot even
    create its journal: that is a full disk when `home`'s file system has no space left (or this process may
    write no larger files: RLIMIT_FSIZE)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL_DISK:
            return FULL_DISK[seen.errno]
        text = str(seen)
        if "database or disk is full" in text or "No space left on device" in text or (
                "disk I/O error" in text and shutil.disk_usage(home).free < 2**20):
            return FULL_DISK[errno.ENOSPC]
        if "File too large" in text or (
                "disk I/O error" in text and resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY):
            return FULL_DISK[errno.EFBIG]
        seen = seen.__cause__ or seen.__context__
    return None


# Passed to the interpreters multiprocessing starts (it copies -W options), its resource tracker among them: a
# pool stopped mid-run (SIGTERM, Ctrl-C) is killed with the named semaphores its workers held, which the tracker
# removes at exit and would also report on the terminal under the one line `xl` says.
KILLED_POOLS_SEMAPHORES = "ignore:resource_tracker:UserWarning"


def main(argv: list[str] | None = None) -> int:
    if KILLED_POOLS_SEMAPHORES not in sys.warnoptions:
        sys.warnoptions.append(KILLED_POOLS_SEMAPHORES)  # before any process is started
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"xl: error: {exc}", file=sys.stderr)
        return 2
    except Stopped as exc:  # runs stopped and accounted for; the partitions written before stand
        print(f"xl: stopped by {exc}: {exc.stopped}; every partition written before stands, "
              "run the same command again for the rest", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:
        home = get_settings().home
        if (why := full_disk(exc, home)) is None:
            raise
        print(f"xl: error: cannot write under {home}: {why}; make room and run again (every "
              "partition, view and report written before stays as it was, readable)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
