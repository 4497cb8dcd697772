"""Keyed pseudonyms for personal data (plates, face and person identifiers, ID numbers).

HMAC-SHA256 with a secret from the environment (`XL_PSEUDONYM_KEY`): the same value always gives the same
pseudonym, so analysts can still count and join, but nobody without the key can go back or test a guess.
Values repeat heavily (a car passes many checkpoints), so each distinct value is hashed once, by DuckDB.
"""

from __future__ import annotations

import hashlib
import os

import duckdb
import polars as pl

from xl_pipelines.settings import ConfigError

KEY_VARIABLE = "XL_PSEUDONYM_KEY"
DEVELOPMENT_KEY = "xl-DEVELOPMENT-ONLY-pseudonym-key-never-use-in-production"
MIN_KEY_CHARS = 16
PSEUDONYM_CHARS = 32  # 128 bits of the HMAC: no collision among billions of plates


def key_from_environment() -> bytes:
    """The secret, or one clear message saying how to set it (never a default in production)."""
    key = os.environ.get(KEY_VARIABLE, "")
    if len(key) < MIN_KEY_CHARS:
        state = "is not set" if not key else f"is shorter than {MIN_KEY_CHARS} characters"
        raise ConfigError(f"{KEY_VARIABLE} {state}: it keys the pseudonyms of plates and person identifiers; "
                          f"set it to a secret of at least {MIN_KEY_CHARS} characters (`make demo` uses a labelled "
                          "development key)")
    return key.encode()


def is_development_key() -> bool:
    return os.environ.get(KEY_VARIABLE) == DEVELOPMENT_KEY


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104, SHA-256's 64-byte block)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def pseudonymise(frame: pl.DataFrame, columns: list[str], key: bytes) -> pl.DataFrame:
    """Replace each column's values by their pseudonyms (hex); null stays null.

    HMAC-SHA256 written as DuckDB's vectorised SHA-256 over the padded keys, once per distinct value of
    all the columns together (the same value gets the same pseudonym in every column), then joined back.
    """
    inner, outer = _pads(key)
    distinct = pl.concat([frame.get_column(c).alias("value") for c in columns]).drop_nulls().unique().to_frame()
    with duckdb.connect() as con:
        con.register("distinct_values", distinct)
        mapping = con.sql(
            f"SELECT value, left(sha256($outer || unhex(sha256($inner || encode(value)))), {PSEUDONYM_CHARS}) "
            "AS pseudonym FROM distinct_values", params={"inner": inner, "outer": outer}).pl()
    for column in columns:
        named = mapping.rename({"value": column, "pseudonym": f"{column}__pseudonym"})
        frame = frame.join(named, on=column, how="left", maintain_order="left").with_columns(
            pl.col(f"{column}__pseudonym").alias(column)).drop(f"{column}__pseudonym")
    return frame


def plate_key(plate: pl.Expr) -> pl.Expr:
    """A plate as it is hashed: upper case, without spaces, dots or dashes (蒙G·12345 = 蒙G12345)."""
    return plate.str.to_uppercase().str.replace_all(r"[\s·.\-]", "").replace("", None)
