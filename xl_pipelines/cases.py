"""The police case-management export, `cases/<YYYY-MM>.csv` → silver.cases, a month at a time.

The export is one CSV per month with DESIGN.md's ten columns; a case belongs to the month it was opened.
Lines are read raw and split column-wise, so a broken line is quarantined with its reason and the rest of the
file still lands. Fields hold no commas (cameras are `;`-separated); quotes around a field are dropped.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from xl_pipelines import landing
from xl_pipelines.banners import BannerConfig
from xl_pipelines.quarantine import Harvest, first_failure, split_by_reason
from xl_pipelines.settings import LOCAL_TZ

COLUMNS = ("case_id", "opened_at", "code", "category", "video_assisted", "cameras", "suspects_caught",
           "accident_replays", "missing_found", "closed_at")
CATEGORIES = ("criminal", "administrative", "traffic_accident", "missing_person", "assistance")
COUNTS = ("suspects_caught", "accident_replays", "missing_found")
FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
SCHEMA = {"case_id": pl.String, "opened_at": pl.Datetime("us", str(LOCAL_TZ)), "code": pl.String,
          "category": pl.String, "video_assisted": pl.Boolean, "cameras": pl.List(pl.String),
          "suspects_caught": pl.Int64, "accident_replays": pl.Int64, "missing_found": pl.Int64,
          "closed_at": pl.Datetime("us", str(LOCAL_TZ)), "source_file": pl.String}


def read_lines(path: Path) -> pl.DataFrame:
    """Every non-blank line of the file after the header, with its 1-based line number; bytes that are not
    UTF-8 become U+FFFD, which marks the line (a UTF-8 byte-order mark is dropped)."""
    text = landing.read_bytes(path).removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    lines = pl.DataFrame({"raw": text.split("\n")}).with_columns(
        raw=pl.col("raw").str.strip_chars_end("\r"), item=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        source_file=pl.lit(str(path)))
    return lines.filter((pl.col("item") > 1) & (pl.col("raw").str.strip_chars() != ""))


def _timestamp(raw: pl.Expr) -> pl.Expr:
    """ISO-8601 with an offset or Z (the export's own form), in local time; null when it is anything else."""
    return (raw.str.replace(r"Z$", "+00:00").str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone=str(LOCAL_TZ))
            .dt.cast_time_unit("us"))


def harvest_cases(path: Path, month: str, banners: BannerConfig, now: dt.datetime) -> Harvest:
    """One month's export: accepted cases (first of each case_id) and quarantined lines with reasons."""
    lines = read_lines(path)
    fields = pl.col("raw").str.split(",").list.eval(pl.element().str.strip_chars().str.strip_chars('"'))
    parsed = lines.with_columns(fields=fields).with_columns(
        **{name: pl.col("fields").list.get(i, null_on_oob=True) for i, name in enumerate(COLUMNS)}
    ).with_columns(
        opened=_timestamp(pl.col("opened_at")),
        closed=_timestamp(pl.col("closed_at")),
        flag=pl.col("video_assisted").str.to_lowercase().replace_strict(FLAGS, default=None, return_dtype=pl.Boolean),
        **{f"{c}_n": pl.col(c).str.to_integer(strict=False) for c in COUNTS},
    )
    now = pl.lit(now.astimezone(LOCAL_TZ)).dt.cast_time_unit("us")
    rules = [
        ("malformed_line", pl.col("fields").list.len() != len(COLUMNS)),
        ("wrong_encoding", pl.col("raw").str.contains("\ufffd", literal=True)),
        ("no_case_id", pl.col("case_id") == ""),
        ("unknown_banner", ~pl.col("code").is_in(banners.codes)),
        ("unknown_category", ~pl.col("category").is_in(CATEGORIES)),
        ("bad_timestamp", pl.col("opened").is_null()
         | ((pl.col("closed_at") != "") & pl.col("closed").is_null())),
        ("future_timestamp", (pl.col("opened") > now) | (pl.col("closed") > now)),
        ("outside_month", pl.col("opened").dt.strftime("%Y-%m") != month),
        ("closed_before_opened", pl.col("closed") < pl.col("opened")),
        ("bad_flag", pl.col("flag").is_null()),
        ("bad_count", pl.any_horizontal(pl.col(f"{c}_n").is_null() | (pl.col(f"{c}_n") < 0) for c in COUNTS)),
    ]
    checked = parsed.with_columns(first_failure(rules))
    repeat = pl.int_range(pl.len()).over("case_id", pl.col("reason").is_null()) > 0  # among the cases kept so far
    checked = checked.with_columns(reason=pl.when(pl.col("reason").is_null() & repeat).then(pl.lit("duplicate"))
                                   .otherwise("reason"))
    # a line of another shape than the export's ten fields may hold anything (a name, an ID number): no raw text
    shaped = pl.col("reason") != "malformed_line"
    checked = checked.with_columns(raw=pl.when(shaped).then("raw"))
    detail = pl.when(~shaped).then(pl.format("{} fields, expected {}", pl.col("fields").list.len(), len(COLUMNS)))
    accepted, quarantined = split_by_reason(checked, "cases", pl.when(shaped).then("case_id"), detail=detail,
                                            code=pl.when(shaped).then("code"))
    cases = accepted.select(
        "case_id", pl.col("opened").alias("opened_at"), "code", "category", pl.col("flag").alias("video_assisted"),
        pl.when(pl.col("cameras") == "").then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col("cameras").str.split(";")).alias("cameras"),
        *(pl.col(f"{c}_n").alias(c) for c in COUNTS), pl.col("closed").alias("closed_at"), "source_file",
    )
    return Harvest(cases.cast(SCHEMA), quarantined, lines.height)
