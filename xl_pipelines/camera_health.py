"""Camera health: the registry from catalogs, polls into time, and the rule that makes an online rate.

How polls become time (DOMAIN.md): a poll's state holds from its time until the banner's next poll, for
at most 10 minutes; beyond that nothing is known. Stretches with no poll of the banner at all are a
harvester outage and count for nobody; a registered camera absent from a poll is offline (not polled).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from xl_pipelines.banners import Banner, BannerConfig
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.parsers import gb28181, status_polls
from xl_pipelines.quarantine import Harvest, first_failure, per_distinct, split_by_reason
from xl_pipelines.settings import LOCAL_TZ, day_bounds

POLL_HOLD = dt.timedelta(minutes=10)


def _number(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)


def harvest_catalog(files: list[Path], code: str, banners: BannerConfig) -> Harvest:
    """Catalog pages and change notifications → one row per item.

    A catalog (the pages of one SN) is complete when its distinct items reach SumNum; for a notification's
    items `catalog_complete` is null, since a notification is no catalog.
    """
    items = gb28181.catalog_frame(files)
    lon, lat = _number("longitude_raw"), _number("latitude_raw")
    west, south, east, north = banners.city_bbox
    in_city = lon.is_between(west, east) & lat.is_between(south, north)
    notify = pl.col("message") == "notify"
    rules = [
        *gb28181.id_rules("device_id", code, banners),
        ("unknown_event", notify & ~pl.col("event").fill_null("").str.to_uppercase().is_in(gb28181.EVENTS)),
        ("bad_coordinate", (pl.col("longitude_raw").is_not_null() & lon.is_null())
         | (pl.col("latitude_raw").is_not_null() & lat.is_null())),
        # Zero, swapped or far-off coordinates are not a place in Tongliao. A wrong banner inside the city
        # is an annotation fault, judged in silver.
        ("outside_city", ~in_city),
        ("duplicate", pl.int_range(pl.len()).over(["message", "sn", "device_id", "event"]) > 0),
    ]
    items = items.with_columns(
        catalog_complete=pl.when(~notify).then(pl.col("device_id").n_unique().over("message", "sn") == pl.col("sum_num")),
        reason=pl.coalesce("page_reason", first_failure(rules)),
    )
    where = (pl.when((lon == 0) & (lat == 0)).then(pl.lit("zero coordinates"))
             .when(lat.is_between(west, east) & lon.is_between(south, north)).then(pl.lit("longitude and latitude swapped"))
             .otherwise(pl.format("{}, {} is outside Tongliao", "longitude_raw", "latitude_raw")))
    detail = pl.coalesce("page_error", pl.when(pl.col("reason") == "outside_city").then(where))
    accepted, quarantined = split_by_reason(items, "catalog", record_id=pl.col("device_id"), detail=detail)
    accepted = accepted.with_columns(
        code=pl.lit(code),
        type_code=pl.col("device_id").str.slice(10, 3),
        longitude=lon, latitude=lat,
        status=gb28181.status_state(pl.col("status_raw")),
        event=pl.col("event").str.to_uppercase(),
        received_at=gb28181.received_at(),
    ).drop("raw", "received_raw", "page_reason", "page_error").sort("received_at", "sn", "page", "item")
    return Harvest(accepted, quarantined.sort("source_file", "item"), read=items.height)


def annotation_fault(banner: Banner) -> pl.Expr:
    """Why a registered camera's point annotation is wrong (null when right), DOMAIN.md's rule in order.

    Coordinates outside the city (zero, swapped, far off) never get here: their items are quarantined.
    """
    west, south, east, north = banner.bbox
    return first_failure([
        ("no_coordinates", pl.col("longitude").is_null() | pl.col("latitude").is_null()),
        ("outside_banner", ~pl.col("longitude").is_between(west, east) | ~pl.col("latitude").is_between(south, north)),
        ("class_one_fields", (pl.col("point_class") == 1) & pl.any_horizontal(
            pl.col("install_time", "contact_info", "record_save_days").is_null())),
    ]).alias("annotation_fault")


def registry(catalog_items: pl.DataFrame, banner: Banner, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """silver.cameras for one banner-day: the camera channels as registered at the end of the day.

    The day's latest complete catalog, then the ADD / UPDATE / DEL notifications received after it, in
    order. A camera deleted that day stays in the day's registry with `removed_at`. When no catalog of
    the day is complete, the items that did arrive are used and the previous day's cameras they lack
    are kept, so a lost page does not make its cameras unknown. `first_seen` carries over from the
    previous day's registry: it is the first day the camera was registered, not the first hour.
    """
    responses = catalog_items.filter(pl.col("message") == "response")
    complete = responses.filter(pl.col("catalog_complete"))
    snapshot = complete if complete.height else responses
    notes = catalog_items.filter(pl.col("message") == "notify")
    if snapshot.height:
        notes = notes.filter(pl.col("received_at") > snapshot["received_at"].max())
    updates = notes.filter(pl.col("event").is_in(("ADD", "UPDATE")))
    removals = notes.filter(pl.col("event") == "DEL").group_by("device_id").agg(removed_at=pl.col("received_at").max())
    cameras = pl.concat([snapshot, updates]).filter(pl.col("type_code").is_in(gb28181.CAMERA_TYPES))
    parent_is_device = pl.col("parent_id").fill_null("").str.contains(r"^\d{20}$") & (
        pl.col("parent_id").str.slice(10, 3).cast(pl.Int32, strict=False) <= 199)
    today = (
        cameras.sort("received_at", "sn", "page", "item")
        .group_by("device_id", maintain_order=True).agg(
            pl.all().last(), first_seen=pl.col("received_at").min(), last_seen=pl.col("received_at").max())
        .with_columns(point_class=pl.col("point_type").cast(pl.Int8, strict=False),
                      record_save_days=pl.col("record_save_days").cast(pl.Int32, strict=False))
        .with_columns(annotation_fault(banner))
        .join(removals, on="device_id", how="left")
        .select(
            channel_id=pl.col("device_id"),
            device_id=pl.when(parent_is_device).then(pl.col("parent_id")).otherwise(pl.col("device_id")),
            code="code", name="name", type_code="type_code", point_class="point_class",
            function_type="function_type", longitude="longitude", latitude="latitude",
            record_save_days="record_save_days",
            install_date=pl.col("install_time").str.slice(0, 10).str.to_date(strict=False),
            catalog_status="status", annotation_fault="annotation_fault",
            management_unit="management_unit", owner="owner",
            first_seen="first_seen", last_seen="last_seen",
            removed_at=pl.when(pl.col("removed_at") > pl.col("last_seen")).then("removed_at"),
        )
    )
    if previous is not None:
        if complete.height == 0:
            kept = previous.filter(pl.col("removed_at").is_null()).join(today, on="channel_id", how="anti")
            today = pl.concat([today, kept], how="vertical_relaxed")
        today = today.join(previous.select("channel_id", earlier="first_seen"), on="channel_id", how="left").with_columns(
            first_seen=pl.min_horizontal("first_seen", "earlier")).drop("earlier")
    return today.sort("channel_id")


TRACKED = ("name", "device_id", "longitude", "latitude", "point_class", "function_type", "record_save_days",
           "catalog_status", "annotation_fault")
CHANGES_SCHEMA = {"channel_id": pl.String, "code": pl.String, "changed_at": pl.Datetime("us", str(LOCAL_TZ)),
                  "attribute": pl.String, "before": pl.String, "after": pl.String, "source": pl.String}


def camera_changes(today: pl.DataFrame, previous: pl.DataFrame | None, catalog_items: pl.DataFrame,
                   code: str, day: dt.date) -> pl.DataFrame:
    """silver.camera_changes: what changed in the registry on this day, when, and what said so.

    `source` is `catalog` (the day's registry differs from the previous day's), or the notification's
    Event (ADD, DEL, UPDATE, and ON / OFF / VLOST / DEFECT for status). Without a previous registry only
    the day's notifications are known.
    """
    frames = [_status_events(catalog_items)]
    if previous is not None:
        frames.append(_attribute_changes(today, previous, catalog_items))
        frames.append(_registrations(today, previous, catalog_items, day))
    columns = {name: dtype for name, dtype in CHANGES_SCHEMA.items() if name != "code"}
    return (pl.concat([f.select(list(columns)).cast(columns) for f in frames])
            .with_columns(code=pl.lit(code)).select(list(CHANGES_SCHEMA)).sort("channel_id", "changed_at", "attribute"))


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("channel_id", *(pl.col(c).cast(pl.String) for c in TRACKED)).unpivot(
        index="channel_id", variable_name="attribute", value_name="value")


def _attribute_changes(today: pl.DataFrame, previous: pl.DataFrame, catalog_items: pl.DataFrame) -> pl.DataFrame:
    updated = (catalog_items.filter(pl.col("event") == "UPDATE").group_by("device_id")
               .agg(updated_at=pl.col("received_at").max()).rename({"device_id": "channel_id"}))
    return (
        _as_text(previous).rename({"value": "before"})
        .join(_as_text(today).rename({"value": "after"}), on=["channel_id", "attribute"])
        .filter(pl.col("before").ne_missing(pl.col("after")))
        .join(today.select("channel_id", "last_seen"), on="channel_id")
        .join(updated, on="channel_id", how="left")
        .with_columns(changed_at=pl.coalesce("updated_at", "last_seen"),
                      source=pl.when(pl.col("updated_at").is_not_null()).then(pl.lit("UPDATE")).otherwise(pl.lit("catalog")))
    )


def _registrations(today: pl.DataFrame, previous: pl.DataFrame, catalog_items: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    start, _ = day_bounds(day)
    announced = catalog_items.filter(pl.col("event") == "ADD")["device_id"].implode()
    added = today.join(previous, on="channel_id", how="anti").select(
        "channel_id", changed_at="first_seen", before=pl.lit("false"), after=pl.lit("true"),
        source=pl.when(pl.col("channel_id").is_in(announced)).then(pl.lit("ADD")).otherwise(pl.lit("catalog")))
    gone = previous.join(today, on="channel_id", how="anti").select(
        "channel_id", changed_at=pl.lit(start), before=pl.lit("true"), after=pl.lit("false"), source=pl.lit("catalog"))
    removed = today.filter(pl.col("removed_at").is_not_null()).select(
        "channel_id", changed_at="removed_at", before=pl.lit("true"), after=pl.lit("false"), source=pl.lit("DEL"))
    return pl.concat([added, gone, removed]).with_columns(attribute=pl.lit("registered"))


def _status_events(catalog_items: pl.DataFrame) -> pl.DataFrame:
    events = catalog_items.filter(pl.col("event").is_in(list(gb28181.STATUS_EVENTS)))
    return events.sort("received_at", "item").select(
        channel_id="device_id", changed_at="received_at", attribute=pl.lit("status"),
        after=pl.col("event").replace_strict(gb28181.STATUS_EVENTS, return_dtype=pl.String), source="event",
    ).with_columns(before=pl.col("after").shift().over("channel_id"))


def harvest_status_polls(files: list[Path], scope: HarvestScope) -> Harvest:
    """Poll CSV lines → one row per channel per poll; bad lines, unknown cameras and duplicates set aside."""
    lines = status_polls.read_poll_lines(files)
    rows = status_polls.split_fields(lines)
    rows = per_distinct(rows, "channel_id", id_reason=first_failure(scope.id_rules("channel_id")),
                        registration_reason=first_failure(scope.registration_rules("channel_id", "unknown_channel")))
    at = pl.col("polled_at")
    rows = per_distinct(rows, "polled_at_raw", polled_at=status_polls.polled_at(pl.col("polled_at_raw")))
    rows = per_distinct(rows.with_columns(time_reason=first_failure([("bad_timestamp", at.is_null()),
                                                                     *scope.time_rules(at)])),
                        "status_raw", state=gb28181.status_state(pl.col("status_raw")))
    # The rules in order: line shape, then the ID, time and status checks made once per distinct value.
    rows = rows.with_columns(reason=pl.when(pl.col("fields") != 3).then(pl.lit("malformed_line")).otherwise(
        pl.coalesce("id_reason", "time_reason", first_failure([("unknown_status", pl.col("state").is_null())]),
                    "registration_reason")))
    clean = pl.col("reason").is_null()
    duplicate = clean & ~pl.struct("channel_id", "polled_at", clean).is_first_distinct()
    rows = rows.with_columns(reason=pl.when(duplicate).then(pl.lit("duplicate")).otherwise("reason"))
    malformed = pl.col("reason") == "malformed_line"
    detail = pl.when(malformed).then(pl.format("{} fields, expected 3", "fields"))
    # a line of another shape may hold anything (a plate, a name): only its file, line and field count are kept
    rows = rows.with_columns(raw=pl.when(~malformed).then("raw"))
    accepted, quarantined = split_by_reason(rows, "status_polls", record_id=pl.when(~malformed).then("channel_id"),
                                            detail=detail.otherwise(None))
    accepted = accepted.select(  # in file and line order: deterministic without a sort of millions of rows
        "channel_id", pl.lit(scope.code).alias("code"), "polled_at", "status_raw", "state", "source_file", "item")
    return Harvest(accepted, quarantined, read=lines.height)


# Each flag's words (any case) meaning yes, then no: the standard's pair first, then the spellings devices
# are known to use instead (Online ON / OK, Status ONLINE / OFFLINE, as in catalogs).
FLAG_WORDS = {"result": (("OK",), ("ERROR",)), "online": (("ONLINE", "ON", "OK"), ("OFFLINE", "OFF")),
              "status_raw": (("OK", "ON", "ONLINE"), ("ERROR", "OFF", "OFFLINE")),
              "encode": (("ON",), ("OFF",)), "record": (("ON",), ("OFF",))}


def harvest_device_status(files: list[Path], scope: HarvestScope) -> Harvest:
    """DeviceStatus responses → one row per response with the device's clock skew and its flags.

    clock_skew_s = DeviceTime − the harvester's receive time (from the file name): positive when the
    device's clock is ahead. Registered here are the scope's `devices` (IP cameras, NVRs and their channels).
    An answer that names another device than the one asked is that device's answer when the two are a
    channel and the NVR it is recorded through (`pairs`: an NVR answering for its channel with its own ID, a
    channel answering for its NVR); any other is `device_mismatch`. A response without DeviceTime (a device
    answering ERROR) lands with no skew.
    """
    # DeviceTime read once per distinct text: a city-day's 0.6 M answers fall in 86,400 seconds
    docs = per_distinct(gb28181.device_status_frame(files), "device_time_raw",
                        device_time=gb28181.device_time(pl.col("device_time_raw")))
    received, device_time = gb28181.received_at(), pl.col("device_time")
    said = {c: pl.col(c).str.to_uppercase() for c in FLAG_WORDS}
    words = [pl.col(c).is_not_null() & ~said[c].is_in([*yes, *no]) for c, (yes, no) in FLAG_WORDS.items()]
    other = pl.col("device_id") != pl.col("file_device_id")
    related = scope.recorded_through("device_id", "file_device_id") | scope.recorded_through("file_device_id", "device_id")
    rules = [
        *scope.id_rules("device_id"),
        ("device_mismatch", other & ~related),
        *scope.time_rules(received),
        ("bad_device_time", pl.col("device_time_raw").is_not_null() & device_time.is_null()),
        ("unknown_value", pl.any_horizontal(words)),
        *scope.registration_rules("device_id", "unknown_device", scope.devices),
        # The same answer filed twice (a re-sent reply): same device, SN and DeviceTime.
        ("duplicate", pl.int_range(pl.len()).over(["device_id", "sn", "device_time_raw"]) > 0),
    ]
    docs = docs.with_columns(reason=pl.coalesce("page_reason", first_failure(rules)))
    accepted, quarantined = split_by_reason(docs, "device_status", record_id=pl.col("device_id"),
                                            detail=pl.col("page_error"))
    on = {c: said[c].is_in(yes) for c, (yes, _) in FLAG_WORDS.items()}
    accepted = accepted.select(
        "device_id", pl.lit(scope.code).alias("code"), received.alias("received_at"), device_time.alias("device_time"),
        (device_time - received).dt.total_seconds().alias("clock_skew_s"),
        on["result"].alias("result_ok"), on["online"].alias("online"), on["status_raw"].alias("status_ok"),
        on["encode"].alias("encode_on"), on["record"].alias("record_on"), "sn", "source_file",
    ).sort("device_id", "received_at")
    return Harvest(accepted, quarantined, read=docs.height)


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
