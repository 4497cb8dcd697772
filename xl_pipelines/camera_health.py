"""Camera health: the registry from catalogs, polls into time, and the rule that makes an online rate.

How polls become time (DOMAIN.md): a poll's state holds from its time until the banner's next poll, for
at most 10 minutes; beyond that nothing is known. Stretches with no poll of the banner at all are a
harvester outage and count for nobody; a registered camera absent from a poll is offline (not polled).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from xl_pipelines.banners import BannerConfig
from xl_pipelines.parsers import gb28181, status_polls
from xl_pipelines.quarantine import Harvest, first_failure, per_distinct, split_by_reason
from xl_pipelines.settings import LOCAL_TZ, day_bounds

POLL_HOLD = dt.timedelta(minutes=10)


def _number(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)


def harvest_catalog(files: list[Path], banner: str, banners: BannerConfig) -> Harvest:
    """Catalog pages → one row per item; a catalog (SN) is complete when its distinct items reach SumNum."""
    items = gb28181.catalog_frame(files)
    lon, lat = _number("longitude_raw"), _number("latitude_raw")
    west, south, east, north = banners.city_bbox
    rules = [
        *gb28181.id_rules("device_id", banner, banners),
        ("bad_coordinate", (pl.col("longitude_raw").is_not_null() & lon.is_null())
         | (pl.col("latitude_raw").is_not_null() & lat.is_null())),
        # Zero, swapped or far-off coordinates are not a place in Tongliao. A wrong banner inside the city
        # is an annotation fault, judged in silver.
        ("outside_city", ~lon.is_between(west, east) | ~lat.is_between(south, north)),
        ("duplicate", pl.int_range(pl.len()).over(["sn", "device_id"]) > 0),
    ]
    items = items.with_columns(
        catalog_complete=(pl.col("device_id").n_unique().over("sn") == pl.col("sum_num")),
        reason=pl.coalesce("page_reason", first_failure(rules)),
    )
    accepted, quarantined = split_by_reason(items, "catalog", record_id=pl.col("device_id"), detail=pl.col("page_error"))
    accepted = accepted.with_columns(
        code=pl.lit(banner),
        type_code=pl.col("device_id").str.slice(10, 3),
        longitude=lon, latitude=lat,
        status=gb28181.status_state(pl.col("status_raw")),
        received_at=pl.col("received_raw").str.to_datetime("%Y%m%dT%H%M%S").dt.replace_time_zone(str(LOCAL_TZ)),
    ).drop("raw", "received_raw", "page_reason", "page_error").sort("sn", "page", "item")
    return Harvest(accepted, quarantined.sort("source_file", "item"), read=items.height)


def registry(catalog_items: pl.DataFrame, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """silver.cameras for one banner-day: the camera channels of the day's latest complete catalog.

    When no catalog of the day is complete, the items that did arrive are used and the cameras of the
    previous day's registry that they lack are kept, so a lost page does not make its cameras unknown.
    """
    complete = catalog_items.filter(pl.col("catalog_complete"))
    source = complete if complete.height else catalog_items
    cameras = source.filter(pl.col("type_code").is_in(gb28181.CAMERA_TYPES))
    parent_is_device = pl.col("parent_id").fill_null("").str.contains(r"^\d{20}$") & (
        pl.col("parent_id").str.slice(10, 3).cast(pl.Int32, strict=False) <= 199)
    today = (
        cameras.sort("received_at", "sn", "page", "item")
        .group_by("device_id", maintain_order=True).agg(
            pl.all().last(), first_seen=pl.col("received_at").min(), last_seen=pl.col("received_at").max())
        .select(
            channel_id=pl.col("device_id"),
            device_id=pl.when(parent_is_device).then(pl.col("parent_id")).otherwise(pl.col("device_id")),
            code="code", name="name", type_code="type_code",
            point_class=pl.col("point_type").cast(pl.Int8, strict=False),
            function_type="function_type", longitude="longitude", latitude="latitude",
            record_save_days=pl.col("record_save_days").cast(pl.Int32, strict=False),
            catalog_status="status", first_seen="first_seen", last_seen="last_seen",
        )
    )
    if complete.height == 0 and previous is not None:
        today = pl.concat([today, previous.join(today, on="channel_id", how="anti")], how="vertical_relaxed")
    return today.sort("channel_id")


def harvest_status_polls(
    files: list[Path], banner: str, day: dt.date, banners: BannerConfig, channels: pl.Series, now: dt.datetime,
    rejected: pl.Series | None = None,
) -> Harvest:
    """Poll CSV lines → one row per channel per poll; bad lines, unknown cameras and duplicates set aside.

    `channels` are the registered cameras; `rejected` the IDs whose catalog item was quarantined that day.
    """
    start, end = day_bounds(day)
    lines = status_polls.read_poll_lines(files)
    rows = status_polls.split_fields(lines)
    rejected = pl.Series(dtype=pl.String) if rejected is None else rejected
    rows = per_distinct(rows, "channel_id", id_reason=first_failure(gb28181.id_rules("channel_id", banner, banners)),
                        registered=pl.col("channel_id").is_in(channels.implode()),
                        rejected=pl.col("channel_id").is_in(rejected.implode()))
    at = pl.col("polled_at")
    rows = per_distinct(rows, "polled_at_raw", polled_at=status_polls.polled_at(pl.col("polled_at_raw")))
    rows = per_distinct(rows.with_columns(time_reason=first_failure([
        ("bad_timestamp", at.is_null()),
        ("future_timestamp", at > now.astimezone(LOCAL_TZ)),
        ("outside_day", (at < start) | (at >= end)),
    ])), "status_raw", state=gb28181.status_state(pl.col("status_raw")))
    # The rules in order: line shape, then the ID, time and status checks made once per distinct value.
    rows = rows.with_columns(reason=pl.when(pl.col("fields") != 3).then(pl.lit("malformed_line")).otherwise(
        pl.coalesce("id_reason", "time_reason", first_failure([
            ("unknown_status", pl.col("state").is_null()),
            ("camera_rejected", ~pl.col("registered") & pl.col("rejected")),
            ("unknown_channel", ~pl.col("registered")),
        ]))))
    clean = pl.col("reason").is_null()
    duplicate = clean & ~pl.struct("channel_id", "polled_at", clean).is_first_distinct()
    rows = rows.with_columns(reason=pl.when(duplicate).then(pl.lit("duplicate")).otherwise("reason"))
    detail = pl.when(pl.col("reason") == "malformed_line").then(pl.format("{} fields, expected 3", "fields"))
    accepted, quarantined = split_by_reason(rows, "status_polls", record_id=pl.col("channel_id"),
                                            detail=detail.otherwise(None))
    accepted = accepted.select(  # in file and line order: deterministic without a sort of millions of rows
        "channel_id", pl.lit(banner).alias("code"), "polled_at", "status_raw", "state", "source_file", "item")
    return Harvest(accepted, quarantined, read=lines.height)


def poll_windows(polled_at: pl.Series, day: dt.date) -> pl.DataFrame:
    """The stretch each of the banner's polls stands for: until the next poll, at most 10 min, within the day."""
    _, day_end = day_bounds(day)
    times = polled_at.unique().sort().alias("polled_at").to_frame()
    return times.with_columns(
        end_at=pl.min_horizontal(
            pl.col("polled_at").shift(-1).fill_null(day_end), pl.col("polled_at") + POLL_HOLD, pl.lit(day_end)
        )
    )


def status_intervals(polls: pl.DataFrame, channels: pl.Series, code: str, day: dt.date) -> pl.DataFrame:
    """silver.status_intervals: runs of one state per camera, outage stretches left out."""
    windows = poll_windows(polls["polled_at"], day)
    grid = (
        channels.alias("channel_id").to_frame().join(windows, how="cross")
        .join(polls.select("channel_id", "polled_at", "state"), on=["channel_id", "polled_at"], how="left")
        .with_columns(polled=pl.col("state").is_not_null(), state=pl.col("state").fill_null("offline"))
        .sort("channel_id", "polled_at")
    )
    changed = (
        (pl.col("channel_id") != pl.col("channel_id").shift())
        | (pl.col("state") != pl.col("state").shift())
        | (pl.col("polled") != pl.col("polled").shift())
        | (pl.col("polled_at") != pl.col("end_at").shift())
    ).fill_null(True)
    return (
        grid.with_columns(run=changed.cum_sum())
        .group_by("run", maintain_order=True)
        .agg(pl.col("channel_id", "state", "polled").first(), start_at=pl.col("polled_at").first(),
             end_at=pl.col("end_at").last())
        .select("channel_id", pl.lit(code).alias("code"), "state", "polled", "start_at", "end_at")
    )
