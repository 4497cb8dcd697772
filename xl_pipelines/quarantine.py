"""The quarantine: every rejected record keeps its source file, its line or item, the raw text and why.

Rules are applied as ordered (reason, condition) pairs over whole columns: the first rule a row breaks
names its reason, so each rejected row has exactly one reason and read = accepted + quarantined holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


def first_failure(rules: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The reason of the first rule whose condition is true, else null."""
    expr = pl.lit(None, dtype=pl.String)
    for reason, broken in reversed(rules):
        expr = pl.when(broken).then(pl.lit(reason)).otherwise(expr)
    return expr.alias("reason")


def per_distinct(frame: pl.DataFrame, column: str, **exprs: pl.Expr) -> pl.DataFrame:
    """Add columns computed once per distinct value of `column` (IDs and poll times repeat millions of times)."""
    distinct = frame.select(pl.col(column).unique()).with_columns(**exprs)
    return frame.join(distinct, on=column, how="left", nulls_equal=True, maintain_order="left")


def split_by_reason(
    frame: pl.DataFrame, source: str, record_id: pl.Expr, detail: pl.Expr | None = None, code: pl.Expr | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a frame carrying `reason`, `source_file`, `item`, `raw` into (accepted, quarantine rows).

    `record_id` is the ID the record names (a camera's, when readable), so governance can find its records;
    `code`, for a city-wide source, the banner each record names (a banner's own source gets its folder's).
    """
    bad = frame.filter(pl.col("reason").is_not_null())
    quarantined = bad.select(
        *([code.alias("code")] if code is not None else []),
        pl.lit(source).alias("source"),
        pl.col("source_file"),
        pl.col("item").cast(pl.Int64),
        record_id.alias("record_id"),
        pl.col("reason"),
        (detail if detail is not None else pl.lit(None, dtype=pl.String)).alias("detail"),
        pl.col("raw"),
    )
    return frame.filter(pl.col("reason").is_null()).drop("reason"), quarantined


@dataclass(frozen=True)
class Harvest:
    """What one source partition gave: accepted rows, quarantined rows, and how many records were read.

    `read` is counted from the input before any rule, so `read == accepted + quarantined` is a real check.
    `accepted` is lazy when the harvest spilled it to pieces (too many rows to hold: captures).
    """

    accepted: pl.DataFrame | pl.LazyFrame
    quarantined: pl.DataFrame
    read: int


def no_records(source: str, accepted: pl.DataFrame, citywide: bool = False) -> Harvest:
    """The harvest of a refused file, which read nothing: both tables empty, the quarantine in the shape
    `split_by_reason` gives (with `code` for a `citywide` source)."""
    rejected = pl.DataFrame(schema={"reason": pl.String, "source_file": pl.String, "item": pl.Int64, "raw": pl.String})
    code = pl.lit(None, dtype=pl.String) if citywide else None
    return Harvest(accepted.clear(), split_by_reason(rejected, source, pl.lit(None, dtype=pl.String), code=code)[1], read=0)
