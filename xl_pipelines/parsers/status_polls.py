"""Status poll CSVs (`channel_id,polled_at,status`), read as raw lines so a broken line is kept, not lost."""

from __future__ import annotations

from pathlib import Path

import polars as pl

HEADER = "channel_id,polled_at,status"
STATES = {"ON": "online", "ONLINE": "online", "OK": "online", "OFF": "offline", "OFFLINE": "offline",
          "VLOST": "video_lost", "DEFECT": "defect"}


def read_poll_lines(files: list[Path]) -> pl.DataFrame:
    """Every non-blank line of the files with its file and 1-based line number; headers dropped."""
    if not files:
        return pl.DataFrame(schema={"raw": pl.String, "source_file": pl.String, "item": pl.Int64})
    lines = pl.scan_csv(
        [str(f) for f in sorted(files)], has_header=False, separator="\x1f", quote_char=None,
        schema={"raw": pl.String}, include_file_paths="source_file", encoding="utf8-lossy",
    ).collect()
    lines = lines.with_columns(item=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("source_file"))
    return lines.filter(pl.col("raw").is_not_null() & ~((pl.col("item") == 1) & (pl.col("raw").str.strip_chars() == HEADER)))


def split_fields(lines: pl.DataFrame) -> pl.DataFrame:
    """channel_id / polled_at (tz-aware; an ISO time without offset is taken as local) / status_raw / state."""
    parts = pl.col("raw").str.strip_chars().str.split(",")
    field = lambda i: parts.list.get(i, null_on_oob=True).str.strip_chars()  # noqa: E731
    text = field(1)
    with_offset = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone="Asia/Shanghai")
    local = text.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False).dt.replace_time_zone("Asia/Shanghai")
    return lines.with_columns(
        fields=parts.list.len(),
        channel_id=field(0),
        polled_at_raw=text,
        polled_at=pl.coalesce(with_offset, local).dt.cast_time_unit("us"),
        status_raw=field(2),
        state=field(2).str.to_uppercase().replace_strict(STATES, default=None),
    )
