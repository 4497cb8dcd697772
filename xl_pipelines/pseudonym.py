"""Keyed pseudonyms for personal data (plates, face and person identifiers, ID numbers).

HMAC-SHA256 with a secret from the environment (`XL_PSEUDONYM_KEY`): the same value always gives the same
pseudonym, so analysts can still count and join, but nobody without the key can go back or test a guess.
Values repeat heavily (a car passes many checkpoints), so each distinct value is hashed once, by DuckDB
(`pseudonymise`); the capture query hashes in place (`hmac_sql`), where a round trip for the distinct values
cost more than the hashing (most face and person capture IDs are distinct).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os

import polars as pl

from xl_pipelines.lake import Lake, connect
from xl_pipelines.settings import ConfigError

KEY_VARIABLE = "XL_PSEUDONYM_KEY"
OLD_KEY_VARIABLE = "XL_PSEUDONYM_OLD_KEY"  # the key a rotation replaces
DEVELOPMENT_KEY = "xl-DEVELOPMENT-ONLY-pseudonym-key-never-use-in-production"
MIN_KEY_CHARS = 16
MIN_DISTINCT_CHARS = 6  # refuses "aaaa…", "abab…"; a random 16-character hex key has fewer than 1 in 10,000 times
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PSEUDONYM_CHARS = 32  # 128 bits of the HMAC: no collision among billions of plates
PERSONAL_KINDS = ("face", "person")  # their capture IDs lead to a face or body image: pseudonymised


def key_from_environment() -> bytes:
    """The secret, or one clear message saying how to set it (never a default in production, never a weak one)."""
    key = os.environ.get(KEY_VARIABLE, "")
    problem = weakness(key)
    if problem:
        raise ConfigError(f"{KEY_VARIABLE} {problem}: it keys the pseudonyms of plates and person identifiers; set "
                          f"it to a random secret of at least {MIN_KEY_CHARS} characters, e.g. `openssl rand -base64 32` "
                          "(`make demo` uses a labelled development key)")
    return key.encode()


def weakness(key: str) -> str | None:
    """Why `key` is too weak to key pseudonyms, or None. Length and variety only: no rule finds a guessable
    phrase, so README asks for a random key."""
    if not key:
        return "is not set"
    if not key.strip():
        return "is only whitespace"
    if len(key) < MIN_KEY_CHARS:
        return f"is shorter than {MIN_KEY_CHARS} characters"
    if len(set(key)) < MIN_DISTINCT_CHARS:
        return f"has only {len(set(key))} distinct characters (at least {MIN_DISTINCT_CHARS})"
    return None


def checked_key(lake: Lake) -> bytes:
    """The key, refused unless it is the one whose fingerprint the lake holds; the first key to pseudonymise
    into a lake has its fingerprint recorded there. Checked by `xl` before any run and by the asset that
    pseudonymises, so a run started from the UI is refused as well."""
    key = key_from_environment()
    recorded = _recorded(lake)
    if recorded is None:
        recorded = lake.record_key_fingerprint(new_fingerprint(key))
    if not matches(key, recorded):
        raise ConfigError(
            f"{KEY_VARIABLE} is not the key this lake was pseudonymised with (its fingerprint, recorded "
            f"{recorded.get('recorded_at', 'earlier')}, is in {lake.key_fingerprint_path()}): with it the same plates would get "
            "other pseudonyms and joins across days would break; use the lake's key, or rotate it on purpose "
            "with `xl rotate-key` (README: Security and privacy)")
    return key


def rotate_key(lake: Lake) -> dict:
    """Record the key in XL_PSEUDONYM_KEY as the lake's key from now on, given the current one in
    XL_PSEUDONYM_OLD_KEY (so a wrong key is never taken for a rotation); the old fingerprint is kept under
    `previous` with the time it ended. Pseudonyms already in the lake stay as they were made."""
    new, recorded = key_from_environment(), _recorded(lake)
    if recorded is None:
        raise ConfigError(f"no key is recorded in {lake.url} yet, so there is none to rotate: the first run "
                          f"records the key in {KEY_VARIABLE}")
    old = os.environ.get(OLD_KEY_VARIABLE, "").encode()
    if not old or not matches(old, recorded):
        raise ConfigError(f"{OLD_KEY_VARIABLE} {'is not set' if not old else 'is not the lake key'}: set it to the "
                          f"key the lake holds now, and {KEY_VARIABLE} to the new one")
    if matches(new, recorded):
        raise ConfigError(f"{KEY_VARIABLE} is the lake's key already: set it to the new key")
    ended = {k: v for k, v in recorded.items() if k != "previous"}
    ended["ended_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return lake.record_key_fingerprint({**new_fingerprint(new), "previous": [ended, *recorded.get("previous", [])]},
                                       replace=True)


def _recorded(lake: Lake) -> dict | None:
    """The lake's fingerprint record, or one clear line if the file is not one xl wrote (with the costs it uses:
    a file cannot make a check take unbounded memory)."""
    try:
        recorded = lake.key_fingerprint()
        if recorded is None or (recorded.get("scheme") == "scrypt" and {k: recorded.get(k) for k in SCRYPT} == SCRYPT
                                and len(bytes.fromhex(recorded["salt"])) == 16
                                and len(bytes.fromhex(recorded["fingerprint"])) == 32):
            return recorded
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    raise ConfigError(f"{lake.key_fingerprint_path()} is not a key fingerprint xl wrote: restore it, or remove it "
                      "to start a new pseudonym epoch (README: Security and privacy)")


def new_fingerprint(key: bytes) -> dict:
    """A record of `key` that does not reveal it: scrypt of the key under a random salt. scrypt (not a plain
    HMAC of a label) so that the file cannot be used to test guesses cheaply: each guess costs 16 MiB and a
    tenth of a second."""
    salt = os.urandom(16)
    return {"scheme": "scrypt", **SCRYPT, "salt": salt.hex(), "fingerprint": _scrypt(key, salt.hex(), **SCRYPT),
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def matches(key: bytes, recorded: dict) -> bool:
    params = {k: recorded[k] for k in SCRYPT}
    return hmac.compare_digest(_scrypt(key, recorded["salt"], **params), recorded["fingerprint"])


@functools.lru_cache(maxsize=4)  # a worker process checks the same key for every banner-day it runs
def _scrypt(key: bytes, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(key, salt=bytes.fromhex(salt), n=n, r=r, p=p, maxmem=2 * 128 * r * n, dklen=32).hex()


def is_development_key() -> bool:
    return os.environ.get(KEY_VARIABLE) == DEVELOPMENT_KEY


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104, SHA-256's 64-byte block)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def hmac_params(key: bytes) -> dict[str, bytes]:
    """The parameters `hmac_sql` takes: HMAC's inner and outer padded keys."""
    inner, outer = _pads(key)
    return {"inner": inner, "outer": outer}


def hmac_sql(value: str) -> str:
    """DuckDB SQL for the pseudonym of the text `value` (an expression; null stays null), given `hmac_params`:
    HMAC-SHA256 written as DuckDB's vectorised SHA-256 over the padded keys, in hex, cut to PSEUDONYM_CHARS."""
    return f"left(sha256($outer || unhex(sha256($inner || encode({value})))), {PSEUDONYM_CHARS})"


def pseudonymise(frame: pl.DataFrame, columns: list[str], key: bytes) -> pl.DataFrame:
    """Replace each column's values by their pseudonyms (hex); null stays null.

    `hmac_sql` once per distinct value of all the columns together (the same value gets the same pseudonym in
    every column), then looked up.
    """
    distinct = pl.concat([frame.get_column(c).alias("value") for c in columns]).drop_nulls().unique().to_frame()
    with connect() as con:
        con.register("distinct_values", distinct)
        mapping = con.sql(f"SELECT value, {hmac_sql('value')} AS pseudonym FROM distinct_values",
                          params=hmac_params(key)).pl()
    # each column looked up in the mapping alone (a join would copy every other column of the frame too)
    return frame.with_columns(pl.col(c).replace_strict(mapping["value"], mapping["pseudonym"], default=None,
                                                       return_dtype=pl.String) for c in columns)


def plate_key(plate: pl.Expr) -> pl.Expr:
    """A plate as it is hashed: upper case, without spaces, dots or dashes (蒙G·12345 = 蒙G12345)."""
    return plate.str.to_uppercase().str.replace_all(r"[\s·.\-]", "").replace("", None)


# A plate of ASCII, CJK ideographs and middle dots: `plate_key_sql` keys it as `plate_key` does (DuckDB's upper()
# agrees with Polars' there, and RE2's class below is Polars' `\s` there: tests/test_captures.py, every code
# point). Any other plate is keyed by `plate_key`: Polars folds case with Unicode's special casing (ß → SS).
PLAIN_PLATE = r"[\x00-\x7F\x{4E00}-\x{9FFF}·]*"


def plate_key_sql(plate: str) -> str:
    """`plate_key` in DuckDB SQL, for a PLAIN_PLATE."""
    return f"nullif(regexp_replace(upper({plate}), '[\\t\\n\\x0B\\f\\r ·.\\-]', '', 'g'), '')"
