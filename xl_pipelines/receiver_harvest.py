"""What the harvest makes of the receiver's own files: capture devices' online time from its keepalive logs
(`viid_keepalive/<date>/<code>/<HH>.jsonl`), and the reconciliation of what it acknowledged (`viid/…/<HH>.acked`)
with what the capture harvest read.

Keepalives are turned into polls, and the polls' rule (camera_health.status_intervals, DOMAIN.md) makes the
time: the banner's day is cut into rounds of ROUND_S (three keepalives of 60 s, after which GA/T 1400 declares
a device offline); a round in which any device of the banner was heard is a poll of the banner at the round's
start, in which a device heard is online (offline if its last word was an unregister) and a device not heard is
offline; a poll holds until the banner's next one for at most 10 minutes, and a stretch with no poll (the
receiver, or the banner's network, down) is left out of every device's expected seconds.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from xl_pipelines.gates import ERROR, WARN, Verdict
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.parsers import gat1400
from xl_pipelines.quarantine import Harvest, first_failure, split_by_reason
from xl_pipelines.receiver_log import read_acked

ROUND_S = 180
EVENTS = ("register", "keepalive", "unregister")
EVENT = {"received_at": "VARCHAR", "device_id": "VARCHAR", "event": "VARCHAR"}  # DuckDB's JSON structure
POLLED = ["device_id", "received_at", "item", "event"]  # the columns of bronze.keepalives the polls read
CAPTURE_FUNCTIONS = ("01", "02", "03", "04")  # FunctionType: face, person, motor vehicle, non-motor checkpoints


def harvest_keepalives(paths: list[Path], scope: HarvestScope) -> Harvest:
    """The banner-day's registrations, keepalives and unregistrations, one row per line; lines that do not
    read, of another time or of an unregistered device quarantined (never their text: a DeviceID may be
    anything a sender typed)."""
    frame = pl.concat([gat1400.lines(p) for p in paths]) if paths else pl.DataFrame(schema=gat1400.LINES_SCHEMA)
    frame = gat1400.decoded(frame, EVENT)
    at = pl.col("received_at")
    frame = frame.with_columns(device_id=pl.col("post").struct.field("device_id"),
                               event=pl.col("post").struct.field("event"))
    frame = frame.with_columns(first_failure([
        ("malformed_line", pl.col("post").is_null()),
        ("bad_received_at", at.is_null()),
        *scope.time_rules(at),
        ("unknown_event", ~pl.col("event").is_in(EVENTS).fill_null(False)),
        *scope.id_rules("device_id"),
        *scope.registration_rules("device_id", "unknown_device"),
    ]))
    again = pl.col("reason").is_null() & ~pl.struct("device_id", "received_at", "event", pl.col("reason").is_null()
                                                    ).is_first_distinct()
    frame = frame.with_columns(reason=pl.when(again).then(pl.lit("duplicate")).otherwise("reason"),
                               raw=pl.lit(None, pl.String))
    camera = pl.when(pl.col("device_id").str.contains(r"^\d{20}$")).then(pl.col("device_id"))
    accepted, quarantined = split_by_reason(frame, "keepalives", record_id=camera)
    accepted = accepted.select("device_id", pl.lit(scope.code).alias("code"), "received_at", "event",
                               "source_file", "item")
    return Harvest(accepted, quarantined, frame.height)


def capture_devices(cameras: pl.DataFrame, keepalives: pl.DataFrame) -> pl.Series:
    """The registry's capture cameras (a capture FunctionType) heard that day: those measured. One never heard is
    not counted offline: it may push through a lower-level view library or ONVIF, or be down, which the polls'
    online rate and capture activity already show."""
    heard = keepalives["device_id"].unique().implode()
    return cameras.filter(pl.col("function_type").is_in(CAPTURE_FUNCTIONS) & pl.col("channel_id").is_in(heard)
                          )["channel_id"].sort()


def keepalive_polls(keepalives: pl.DataFrame) -> pl.DataFrame:
    """The banner's keepalives as polls (`channel_id`, `polled_at`, `state`) for camera_health.status_intervals:
    one poll per round in which anyone was heard, each device heard online unless its last word was unregister."""
    return (keepalives.select(POLLED).sort("received_at", "item")
            .with_columns(polled_at=pl.col("received_at").dt.truncate(f"{ROUND_S}s"))
            .group_by("device_id", "polled_at").agg(pl.col("event").last())
            .select(channel_id="device_id", polled_at="polled_at",
                    state=pl.when(pl.col("event") == "unregister").then(pl.lit("offline")).otherwise(pl.lit("online")))
            .sort("polled_at", "channel_id"))


def reconcile(hour_files: list[Path], sidecars: list[Path], read: pl.DataFrame) -> tuple[Verdict, pl.DataFrame]:
    """Records the receiver acknowledged into each finished hour file (its `.acked`: objects, and one per POST
    without objects, as the harvest counts them) against the records the harvest read from it (`read`:
    `source_file`, `records`; `sidecars` those of the hour files harvested or refused, not of one still
    being written). Fewer read is a loss (ERROR); more read is a crash's residue, lines written
    but never answered, which their cameras send again (WARN). Hour files the receiver did not write (no
    `.acked`: the simulator, another producer) are not reconciled, and said so."""
    counted = [{"source_file": str(s.with_suffix(".jsonl")), "acknowledged": sum(
        read_acked(s)[k] for k in ("objects", "without_objects"))} for s in sidecars]
    table = (pl.DataFrame(counted, schema={"source_file": pl.String, "acknowledged": pl.Int64})
             .join(read.select("source_file", pl.col("records").cast(pl.Int64)), on="source_file", how="left")
             .with_columns(read=pl.col("records").fill_null(0)).drop("records").sort("source_file"))
    lost = table.filter(pl.col("read") < pl.col("acknowledged"))
    extra = table.filter(pl.col("read") > pl.col("acknowledged"))
    unreconciled = len(hour_files) - table.filter(pl.col("source_file").is_in([str(p) for p in hour_files])).height
    note = f"; {unreconciled} hour files not written by xl receive (no .acked), not reconciled" if unreconciled else ""

    def named(rows: pl.DataFrame) -> str:
        return ", ".join(f"{Path(f).name} acknowledged {a}, read {r}" for f, a, r in rows.iter_rows())

    if lost.height:
        return Verdict(False, ERROR, f"acknowledged objects not read: {named(lost)}{note}"), table
    if extra.height:
        return Verdict(False, WARN, f"read beyond what was acknowledged (lines written before a crash, never "
                                    f"answered, so sent again): {named(extra)}{note}"), table
    return Verdict(True, WARN, f"{table.height} hour files: {table['acknowledged'].sum()} records acknowledged = "
                               f"{table['read'].sum()} read{note}"), table
