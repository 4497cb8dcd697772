"""Resources: the lake, the landing zone, recording storage, the pseudonym key, the reports and the analysts'
DuckDB file, all from the environment. Every path an asset writes or reads outside the lake comes from here."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from xl_pipelines import landing, quality_report, report
from xl_pipelines.gates import Verdict
from xl_pipelines.lake import Lake
from xl_pipelines.pseudonym import checked_key
from xl_pipelines.settings import ConfigError, Where, get_settings, local_day, location
from xl_pipelines.warehouse import refresh_views


class LakeResource(dg.ConfigurableResource):
    """The lake: a local path or an fsspec URL (s3://…); empty means XL_LAKE_URL / $XL_HOME/lake at run time."""

    url: str = ""

    @property
    def lake(self) -> Lake:
        return Lake(self.url or get_settings().lake_url)


class LandingResource(dg.ConfigurableResource):
    """The landing zone where exporters (or `xl simulate`) drop native files, a folder or an object store
    (s3://…); harvest only reads it."""

    root: str = ""

    @property
    def path(self) -> Where:
        return location(self.root or get_settings().landing)

    def files(self, source: str, day: dt.date, code: str, pattern: str) -> landing.Listing:
        """The files of one source folder for one banner-day, in name order, dot-files (unfinished) excluded:
        those harvest reads, and those it refuses (links, FIFOs, folders, too large, compressed)."""
        return landing.list_files(self.path, self.path / source / day.isoformat() / code, pattern,
                                  landing.limits()[source])

    def case_export(self, month: str) -> Where:
        """The case-management export of a month, `cases/<YYYY-MM>.csv` (city-wide, one file)."""
        return self.path / "cases" / f"{month}.csv"

    def case_files(self, month: str) -> landing.Listing:
        """The month's case export, vetted like every landing file (nothing when it has not arrived)."""
        path = self.case_export(month)
        return landing.vet(self.path, [path] if landing.exists(path) else [], landing.limits()["cases"])


class RecordingsResource(dg.ConfigurableResource):
    """The media servers' recording storage (`<code>/<channel>/<date>/HH-MM-SS.mp4`), a folder or an object
    store (s3://…); harvest only reads it."""

    root: str = ""

    @property
    def path(self) -> Where:
        return location(self.root or get_settings().recordings)


class ClockResource(dg.ConfigurableResource):
    """The harvest's time: nothing a harvest reads may lie after it, and recording storage is judged as it
    stands on its local day. The wall clock; `now` (ISO 8601 with an offset) fixes it for a run, to replay a
    night, and XL_NOW for every run of a deployment (two runs of one day judged at one time)."""

    now: str = ""

    def time(self) -> dt.datetime:
        if self.now:
            return dt.datetime.fromisoformat(self.now)
        return get_settings().now or dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return local_day(self.time())


class PseudonymResource(dg.ConfigurableResource):
    """The pseudonymiser's secret, read from XL_PSEUDONYM_KEY at run time (never configured in the UI)."""

    def key_for(self, lake: Lake) -> bytes:
        """The key, refused unless the lake's pseudonyms were made with it (pseudonym.checked_key): the run
        fails with that one line, in the UI as from `xl`."""
        try:
            return checked_key(lake)
        except ConfigError as exc:
            raise dg.Failure(str(exc)) from None


class ReportsResource(dg.ConfigurableResource):
    """The reports folder: every check's kept result and the quality report page (`quality/`), the leadership
    reports (`leadership/<YYYY-MM>.html`); empty means $XL_HOME/reports at run time."""

    root: str = ""

    @property
    def path(self) -> Path:
        return Path(os.path.abspath(self.root or get_settings().reports))

    def keep_check(self, table: str, check: str, keys: dict[str, str], verdict: Verdict, blocking: bool,
                   details: dict | None = None) -> Path:
        """Keep one check's outcome for one partition, for the quality report (replacing the previous one)."""
        return quality_report.record(self.path, table, check, keys, verdict.passed, verdict.severity,
                                     verdict.description, blocking, details)

    def render_quality(self) -> Path:
        """The quality report page over every kept result."""
        return quality_report.render(self.path)

    def write_leadership(self, lake: Lake, month: str) -> Path:
        """The month's leadership report, from gold."""
        return report.write_report(lake, month, self.path)


class WarehouseResource(dg.ConfigurableResource):
    """The analysts' DuckDB file of views (and one per banner beside it); empty means $XL_HOME/xl.duckdb."""

    file: str = ""

    @property
    def path(self) -> Path:
        return Path(os.path.abspath(self.file or get_settings().warehouse_path))

    def refresh(self, lake: Lake) -> list[str]:
        """Rebuild the views over every lake table; the view names."""
        return refresh_views(lake, self.path)


def replay_resources(lake_url: str, landing: Where, recording_storage: Where, now: dt.datetime) -> dict:
    """The code location's resources over given folders, on a fixed clock: a night replayed (tests, the bench).
    XL_HOME (the reports) and the key come from the environment, as in a run."""
    return {"lake": LakeResource(url=lake_url), "landing": LandingResource(root=str(landing)),
            "recording_storage": RecordingsResource(root=str(recording_storage)), "pseudonyms": PseudonymResource(),
            "clock": ClockResource(now=now.isoformat()), "reports": ReportsResource()}
