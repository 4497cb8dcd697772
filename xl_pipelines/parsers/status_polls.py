"""Status poll CSVs (`channel_id,polled_at,status`), read as raw lines so a broken line is kept, not lost."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from xl_pipelines import landing
from xl_pipelines.settings import LOCAL_TZ

HEADER = "channel_id,polled_at,status"


def read_poll_lines(files: list[Path]) -> pl.DataFrame:
    """Every non-blank line of the files with its file and 1-based line number; headers dropped.

    The files are parsed as one text (one CSV scan, not one a file), each ended with a line feed so no line
    runs into the next file's. Polars' reader ends a row at each line feed (a blank line gives a null row), so a
    file's rows are as many as its line feeds: that is how each row gets its file and line number back.
    """
    files = sorted(files)
    texts = [text if text.endswith(b"\n") else text + b"\n" for text in map(landing.read_bytes, files)]
    if not texts:
        return pl.DataFrame(schema={"raw": pl.String, "source_file": pl.String, "item": pl.Int64})
    lines = pl.read_csv(b"".join(texts), has_header=False, separator="\x1f", quote_char=None,
                        schema={"raw": pl.String}, encoding="utf8-lossy")
    counts = pl.Series([text.count(b"\n") for text in texts], dtype=pl.Int64)
    numbered = pl.DataFrame({"source_file": [str(f) for f in files]}).with_columns(
        item=pl.int_ranges(1, counts + 1, dtype=pl.Int64)).explode("item")
    lines = pl.concat([lines, numbered], how="horizontal")
    return lines.filter(pl.col("raw").is_not_null() & ~((pl.col("item") == 1) & (pl.col("raw").str.strip_chars() == HEADER)))


def split_fields(lines: pl.DataFrame) -> pl.DataFrame:
    """Raw text fields: channel_id, polled_at_raw, status_raw, and how many fields the line had (each field
    stripped, which strips the line's ends too: the line itself is not, a copy of every line for nothing)."""
    parts = pl.col("raw").str.split_exact(",", 2)
    return lines.with_columns(
        fields=pl.col("raw").str.count_matches(",", literal=True) + 1,
        channel_id=parts.struct.field("field_0").str.strip_chars(),
        polled_at_raw=parts.struct.field("field_1").str.strip_chars(),
        status_raw=parts.struct.field("field_2").str.strip_chars(),
    )


def polled_at(raw: pl.Expr) -> pl.Expr:
    """ISO-8601 with offset, or without one taken as local time; null when unparsable."""
    with_offset = raw.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone=str(LOCAL_TZ))
    local = raw.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False).dt.replace_time_zone(str(LOCAL_TZ))
    return pl.coalesce(with_offset, local).dt.cast_time_unit("us")
