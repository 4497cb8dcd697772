"""Independent random streams derived from the run's seed, so every output is reproducible.

Each stream is keyed by what it is for (a label, a banner code, a day), never by the order of work: the same
banner-day gets the same draws whether it is simulated alone or within a longer run.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np


def _key(part: str | int | dt.date) -> int:
    if isinstance(part, dt.date):
        return part.toordinal()
    if isinstance(part, str):
        return zlib.crc32(part.encode("utf-8"))  # stable across processes, unlike hash()
    return part


def stream(seed: int, *keys: str | int | dt.date) -> np.random.Generator:
    """A generator for one purpose, e.g. `stream(seed, "status", "150502", day)`."""
    return np.random.default_rng(np.random.SeedSequence([seed, *map(_key, keys)]))
