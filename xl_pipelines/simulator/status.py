"""A banner-day of 5-minute status polls: a state matrix drawn with numpy, written as one CSV per poll.

Every camera gets one behaviour for the day (always online, down for hours, flapping, …); the matrix of
polls × cameras follows from it without a loop over rows.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from xl_pipelines.simulator.city import UNREGISTERED_SERIALS
from xl_pipelines.simulator.faults import GARBLED_POLLS, STATUS_FAULTS, DayPlan

POLL_MINUTES = 5
POLLS_PER_DAY = 24 * 60 // POLL_MINUTES
UTC_OFFSET = "+08:00"  # Asia/Shanghai, no daylight saving
MORNING = 10 * 60 // POLL_MINUTES  # the first poll at 10:00
FUTURE_YEARS = 10  # how far ahead a reset device clock stamps its row
ONLINE, OFFLINE, VIDEO_LOST, DEFECT, ABSENT = range(5)  # ABSENT: the camera has no row in the poll


@dataclass(frozen=True)
class Behaviour:
    name: str
    share: float  # of a banner of average health
    state: int  # the state of its stretch
    polls: tuple[int, int]  # shortest and longest stretch, in polls


BEHAVIOURS = (
    Behaviour("down_for_hours", 0.04, OFFLINE, (24, 120)),
    Behaviour("flapping", 0.04, OFFLINE, (0, 0)),  # no stretch: single-poll blips instead
    Behaviour("video_lost", 0.02, VIDEO_LOST, (12, 72)),
    Behaviour("defect", 0.01, DEFECT, (12, 96)),
    Behaviour("missing", 0.02, ABSENT, (6, 36)),
    Behaviour("offline_all_day", 0.01, OFFLINE, (POLLS_PER_DAY, POLLS_PER_DAY)),
)
FLAPPING = 1 + [b.name for b in BEHAVIOURS].index("flapping")  # behaviour 0 is "always online"
BLIPS = (5, 30)
DAILY_JITTER = 0.2  # log-normal spread of a banner's health from day to day
MAX_UNHEALTHY = 0.6


def behaviours(rng: np.random.Generator, cameras: int, health: float) -> np.ndarray:
    """Behaviour per camera: 0 = always online, k = BEHAVIOURS[k - 1]; shares scale with the banner's health."""
    shares = np.array([b.share for b in BEHAVIOURS]) * health * np.exp(rng.normal(0, DAILY_JITTER))
    shares *= min(1.0, MAX_UNHEALTHY / shares.sum())
    return rng.choice(len(BEHAVIOURS) + 1, size=cameras, p=[1 - shares.sum(), *shares])


def day_states(rng: np.random.Generator, cameras: int, health: float) -> np.ndarray:
    """Matrix of polls × cameras holding ONLINE, OFFLINE, VIDEO_LOST, DEFECT or ABSENT."""
    behaviour = behaviours(rng, cameras, health)
    state = np.array([ONLINE] + [b.state for b in BEHAVIOURS], dtype=np.uint8)[behaviour]
    shortest = np.array([0] + [b.polls[0] for b in BEHAVIOURS])[behaviour]
    longest = np.array([0] + [b.polls[1] for b in BEHAVIOURS])[behaviour]
    length = shortest + (rng.random(cameras) * (longest - shortest + 1)).astype(int)
    start = (rng.random(cameras) * (POLLS_PER_DAY - length + 1)).astype(int)
    poll = np.arange(POLLS_PER_DAY)[:, None]
    states = np.where((poll >= start) & (poll < start + length), state, np.uint8(ONLINE)).astype(np.uint8)

    flapping = np.flatnonzero(behaviour == FLAPPING)
    blips = rng.integers(BLIPS[0], BLIPS[1] + 1, size=flapping.size)
    rank = rng.random((POLLS_PER_DAY, flapping.size)).argsort(axis=0).argsort(axis=0)
    states[:, flapping] = np.where(rank < blips, np.uint8(OFFLINE), states[:, flapping])
    return states


def write_polls(
    folder: Path, day: dt.date, channel_ids: list[str], states: np.ndarray, online_word: str,
    plan: DayPlan, rng: np.random.Generator,
) -> dict[str, int]:
    """One `<HHMM>.csv` per poll outside the plan's outage, each planned status fault in a file of its own.

    The whole day is one frame written by one `write_csv`, then cut into files at the polls' row boundaries:
    thousands of small polars writes would cost far more than the rows themselves.
    """
    polls = np.array([p for p in range(POLLS_PER_DAY) if p not in plan.outage])
    present = states[polls] != ABSENT
    poll_of_row, camera = np.nonzero(present)  # poll-major, cameras in registry order
    frame = pl.DataFrame(
        {
            "channel_id": pl.Series(channel_ids, dtype=pl.String).gather(camera),
            "polled_at": pl.Series([_stamp(day, p) for p in polls.tolist()], dtype=pl.String).gather(poll_of_row),
            "status": pl.Series([online_word, "OFF", "VLOST", "DEFECT"]).gather(states[polls][present]),
        }
    )
    ends = np.cumsum(present.sum(axis=1))  # rows up to the end of each poll's file
    faults = sorted(plan.faults & set(STATUS_FAULTS) - {"garbled_export"})
    hits: list[int] = []  # the file (index into polls) of each fault, one fault per file
    for fault in faults:
        eligible = [k for k in range(polls.size) if k not in hits and (fault != "bad_polled_at" or polls[k] < MORNING)]
        hits.append(eligible[int(rng.integers(len(eligible)))])
    positions = rng.random(len(faults))
    tails: dict[int, bytes] = {}
    for k, fault, position in sorted(zip(hits, faults, positions.tolist()), reverse=True):
        start = int(ends[k - 1]) if k else 0
        if ends[k] == start:
            continue
        row = start + int(position * (ends[k] - start))
        frame, added, tail = _inject(frame, fault, row, int(ends[k]), _sloppy(day, polls[k]), day)
        ends[k:] += added
        if tail:
            tails[k] = tail.encode("ascii")

    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False)
    data = memoryview(buffer.getbuffer())
    line_starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n")) + 1])
    cuts = np.concatenate([[0], line_starts[ends]]).tolist()
    header = (",".join(frame.columns) + "\n").encode("ascii")
    garbled = range(0)
    if "garbled_export" in plan.faults:  # an exporter misconfigured for an hour: ';' between fields
        first = int(rng.integers(polls.size - GARBLED_POLLS))
        garbled = range(first, first + GARBLED_POLLS)
    for k, poll in enumerate(polls.tolist()):
        hour, minute = _clock(poll)
        body = header + bytes(data[cuts[k] : cuts[k + 1]]) + tails.get(k, b"")
        (folder / f"{hour:02d}{minute:02d}.csv").write_bytes(body.replace(b",", b";") if k in garbled else body)
    return {"status_files": polls.size, "status_rows": frame.height + len(tails)}


def _clock(poll: int) -> tuple[int, int]:
    return divmod(poll * POLL_MINUTES, 60)


def _stamp(day: dt.date, poll: int) -> str:
    """The poll's time as written in every row: ISO 8601 with the local offset."""
    hour, minute = _clock(poll)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{UTC_OFFSET}"


def _sloppy(day: dt.date, poll: int) -> str:
    """The time as a broken exporter writes it, without zero padding, seconds or offset: 2026-11-20T8:5.

    Only used for polls before 10:00 (MORNING), whose single-digit hour makes it unparseable as ISO 8601.
    """
    hour, minute = _clock(poll)
    return f"{day.year}-{day.month}-{day.day}T{hour}:{minute}"


def _inject(
    frame: pl.DataFrame, fault: str, row: int, end: int, sloppy_time: str, day: dt.date
) -> tuple[pl.DataFrame, int, str]:
    """Apply one status fault at `row` of the poll ending at `end`: the rows, how many were added, any bare tail."""
    victim = frame.row(row, named=True)
    if fault == "future_polled_at":
        ahead = str(day.year + FUTURE_YEARS) + victim["polled_at"][4:]
        return _replace(frame, row, "polled_at", ahead), 0, ""
    if fault == "previous_day_row":
        late = (day - dt.timedelta(days=1)).isoformat() + victim["polled_at"][10:]
        return _insert(frame, end, {**victim, "polled_at": late}), 1, ""
    if fault == "bad_polled_at":
        return _replace(frame, row, "polled_at", sloppy_time), 0, ""
    if fault == "unknown_status":
        return _replace(frame, row, "status", "UNKNOWN"), 0, ""
    if fault == "short_channel_id":
        return _insert(frame, end, {**victim, "channel_id": victim["channel_id"][:-1]}), 1, ""
    if fault == "unregistered_channel":
        unknown = victim["channel_id"][:14] + f"{UNREGISTERED_SERIALS + row % 1000:06d}"
        return _insert(frame, end, {**victim, "channel_id": unknown}), 1, ""
    if fault == "duplicate_row":
        return _insert(frame, end, victim), 1, ""
    if fault == "truncated_line":
        return frame, 0, victim["channel_id"][: 6 + row % 10]
    raise ValueError(f"not a status fault: {fault}")


def _replace(frame: pl.DataFrame, row: int, column: str, value: str) -> pl.DataFrame:
    at_row = pl.int_range(pl.len()) == row
    return frame.with_columns(pl.when(at_row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))


def _insert(frame: pl.DataFrame, at: int, row: dict[str, str]) -> pl.DataFrame:
    return pl.concat([frame.head(at), pl.DataFrame([row], schema=frame.schema), frame.slice(at)])
