"""The police case-management export: one CSV per month, `cases/<YYYY-MM>.csv`, one row per case opened that
month (DESIGN.md's columns). It is small, so even the demo writes a year of it.

Scale (DOMAIN.md, 2022): about 78 criminal and administrative cases assisted by video a year, 52 suspects
caught, 90+ accident scenes replayed, a few missing persons found. Most cases in the export are not
video-assisted; those count nowhere in the outcome statistics. Case records name no persons.
Each month's file carries one or two of CASE_FAULTS, drawn from a stream keyed by the month.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np

from xl_pipelines.cases import COLUMNS
from xl_pipelines.settings import LOCAL_TZ
from xl_pipelines.simulator.city import BannerRegistry
from xl_pipelines.simulator.seeding import stream

# category (all of cases.CATEGORIES): (cases opened a month in the whole city, share assisted by video)
MONTHLY = {
    "criminal": (13.0, 0.30),
    "administrative": (8.0, 0.30),
    "traffic_accident": (11.0, 0.70),
    "missing_person": (1.2, 0.60),
    "assistance": (9.0, 0.50),
}
CASE_FAULTS = (
    "resent_case",  # a case exported twice (the same case_id)
    "unknown_banner_case",  # a case filed under a code that is none of the nine
    "bad_category",  # a category in words the export does not use (盗窃)
    "bad_opened_at",  # opened_at as 2026/11/03 10:00, no offset
    "other_month_case",  # a case opened in the month before, exported again in this month's file
    "negative_count",  # suspects_caught = -1
    "short_row",  # a row cut off after four fields
)


def months_back(last: dt.date, count: int) -> list[dt.date]:
    """The first days of the `count` months ending with `last`'s month, oldest first."""
    firsts, month = [], last.replace(day=1)
    for _ in range(count):
        firsts.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return firsts[::-1]

FAULT_ROWS = 10  # good rows an export holds for each planned fault it carries (_add_faults)


def write_cases(landing: Path, city: list[BannerRegistry], weights: list[float], month: dt.date, until: dt.date,
                seed: int) -> dict[str, int]:
    """Write `cases/<YYYY-MM>.csv` for the month starting `month`, cases opened up to the end of `until`."""
    rng = stream(seed, "cases", month)
    last = min(until, (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1))
    days = (last - month).days + 1
    full = ((month + dt.timedelta(days=32)).replace(day=1) - month).days
    share = np.asarray(weights) / sum(weights)
    rows = []
    for category, (per_month, assisted_share) in MONTHLY.items():
        n = int(rng.poisson(per_month * days / full))
        banner = rng.choice(len(city), size=n, p=share)
        opened = [dt.datetime.combine(month, dt.time(), LOCAL_TZ) + dt.timedelta(seconds=int(s))
                  for s in rng.integers(0, days * 86400, size=n)]
        assisted = rng.random(n) < assisted_share
        suspects = {"criminal": rng.poisson(0.8, n), "administrative": rng.poisson(0.2, n)}.get(category, np.zeros(n, int))
        replays = (1 + (rng.random(n) < 0.1)) * (category == "traffic_accident")  # a second scene now and then
        found = (rng.random(n) < 0.8) * (category == "missing_person")
        closed_after = rng.exponential(6 * 86400, size=n)
        for i in range(n):
            registry = city[banner[i]]
            ids = [c.device_id for c in registry.channels]
            cameras = (rng.choice(ids, size=min(int(rng.integers(1, 4)), len(ids)), replace=False)
                       if assisted[i] and ids else [])  # a banner of a small city may have one or two cameras
            closed = opened[i] + dt.timedelta(seconds=float(closed_after[i]))
            rows.append([
                "", opened[i], registry.banner.code, category, "true" if assisted[i] else "false",
                ";".join(cameras), int(suspects[i] * assisted[i]), int(replays[i] * assisted[i]),
                int(found[i] * assisted[i]),
                closed.isoformat(timespec="seconds") if closed.date() <= until else "",
            ])
    rows.sort(key=lambda r: r[1])
    for n, row in enumerate(rows, start=1):
        row[0] = f"A{row[2]}{month:%Y%m}{n:04d}"
        row[1] = row[1].isoformat(timespec="seconds")
    _add_faults(rows, rng, month_faults(seed, month))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    folder = landing / "cases"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{month:%Y-%m}.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return {"case_files": 1, "case_rows": len(rows)}


def month_faults(seed: int, month: dt.date) -> list[str]:
    """The one or two planned faults of a month's export."""
    rng = stream(seed, "case_faults", month)
    return sorted(rng.choice(CASE_FAULTS, size=int(rng.integers(1, 3)), replace=False).tolist())


def _add_faults(rows: list[list], rng: np.random.Generator, faults: list[str]) -> None:
    """Append one bad row per planned fault, each a copy of a good row broken one way; in an export of fewer than
    FAULT_ROWS good rows a fault (the first days of a month) none: one bad case in three would stop the month (cases
    block above 10 %, from one record), where a month's faults are meant to be quarantined, not to stop it."""
    good = len(rows)
    for fault in faults if good >= FAULT_ROWS * len(faults) else ():
        row = list(rows[int(rng.integers(good))])
        if fault != "resent_case":
            row[0] = row[0] + "X"
        if fault == "unknown_banner_case":
            row[2] = "150599"
        elif fault == "bad_category":
            row[3] = "盗窃"
        elif fault == "bad_opened_at":
            row[1] = dt.datetime.fromisoformat(row[1]).strftime("%Y/%m/%d %H:%M")
        elif fault == "other_month_case":
            row[1] = (dt.datetime.fromisoformat(row[1]).replace(day=1) - dt.timedelta(days=1)).isoformat()
        elif fault == "negative_count":
            row[6] = -1
        elif fault == "short_row":
            row = row[:4]
        rows.append(row)
