"""Capture devices' online time from the receiver's keepalive logs (`viid_keepalive/<date>/<code>/<HH>.jsonl`).

The polls' rule (DOMAIN.md), with keepalives for polls: a register or keepalive holds the device online until
its next event, for at most LAPSE_S (three missed keepalives of 60 s: GA/T 1400 declares it offline then); an
unregister holds it offline until its next event. The receiver is known to be up while any device of the banner
is heard from (each event covers LAPSE_S after it); a stretch where no device of the banner is heard is an
outage of the receiver (or of the whole banner's network), left out of every device's observed seconds, as a
harvester outage is for the polls. Lines that do not read are quarantined with a reason, as a torn last line
after a crash is.

Left for the asset that will land this (not wired yet): `online_s / expected_s` per capture device and the
banner's sums, beside the polls' online rate.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from xl_pipelines.parsers import gat1400
from xl_pipelines.quarantine import Harvest, first_failure, split_by_reason
from xl_pipelines.settings import day_bounds

LAPSE_S = 180
EVENTS = ("register", "keepalive", "unregister")
EVENT = {"received_at": "VARCHAR", "device_id": "VARCHAR", "event": "VARCHAR"}  # DuckDB's JSON structure


def read_keepalives(paths: list[Path]) -> Harvest:
    """The events of some keepalive logs (`at`, `device_id`, `event`); a line that does not decode is
    `malformed_line`, one without a readable offset time `bad_received_at`, an event the receiver does not write
    `unknown_event`."""
    frame = pl.concat([gat1400.lines(p) for p in paths]) if paths else pl.DataFrame(schema=gat1400.LINES_SCHEMA)
    frame = gat1400.decoded(frame, EVENT)
    frame = frame.with_columns(at=gat1400.received_at(pl.col("post").struct.field("received_at")),
                               device_id=pl.col("post").struct.field("device_id"),
                               event=pl.col("post").struct.field("event"))
    frame = frame.with_columns(first_failure([
        ("malformed_line", pl.col("post").is_null()),
        ("bad_received_at", pl.col("at").is_null()),
        ("unknown_event", ~pl.col("event").is_in(EVENTS).fill_null(False)),
    ]))
    accepted, quarantined = split_by_reason(frame.with_columns(raw=pl.lit(None, pl.String)), "keepalives",
                                            record_id=pl.col("device_id"))
    return Harvest(accepted.select("at", "device_id", "event"), quarantined, frame.height)


def online_seconds(events: pl.DataFrame, day: dt.date, devices: pl.Series | None = None) -> pl.DataFrame:
    """Per device of the day's events (and of `devices`, heard or not): `keepalives`, `online_s`, `expected_s`."""
    start, end = day_bounds(day)
    lapse = pl.duration(seconds=LAPSE_S)
    events = events.filter((pl.col("at") >= start) & (pl.col("at") < end)).sort("device_id", "at")
    heard = events.select(pl.col("at").sort()).with_columns(
        until=pl.min_horizontal(pl.col("at") + lapse, pl.lit(end)))
    # union of [at, at + lapse) over the banner: a new stretch starts where the one before it had ended
    heard = heard.with_columns(reach=pl.col("until").cum_max().shift(1))
    heard = heard.with_columns(stretch=(pl.col("reach").is_null() | (pl.col("at") > pl.col("reach"))).cum_sum())
    expected_s = heard.group_by("stretch").agg(pl.col("until").max() - pl.col("at").min()).select(
        pl.col("until").dt.total_microseconds().sum() / 1e6).item() if heard.height else 0.0
    spans = events.with_columns(stop=pl.min_horizontal(
        pl.col("at").shift(-1).over("device_id").fill_null(pl.lit(end)), pl.col("at") + lapse, pl.lit(end)))
    per_device = spans.group_by("device_id").agg(
        keepalives=(pl.col("event") != "unregister").sum(),
        online_s=pl.when(pl.col("event") != "unregister").then(pl.col("stop") - pl.col("at"))
        .dt.total_microseconds().sum() / 1e6)
    if devices is not None:
        per_device = pl.DataFrame({"device_id": devices.unique()}).join(per_device, on="device_id", how="full",
                                                                          coalesce=True)
    return per_device.with_columns(pl.col("keepalives").fill_null(0).cast(pl.Int64),
                                   pl.col("online_s").fill_null(0.0), expected_s=pl.lit(float(expected_s))
                                   ).sort("device_id")
