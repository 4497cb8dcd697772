"""The one storage layer: hive-partitioned Parquet on a local path or any fsspec URL.

A partition is a single file `part-0.parquet` under `<layer>/<table>/date=…/banner=…/`. Writing it is atomic:
locally the file is written beside under a dot-name (which no `*.parquet` glob sees) and swapped in with
`os.replace`; on object storage a single PUT is atomic by itself. So a crash mid-write leaves the previous
version readable, and re-materialising replaces rather than appends.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
from upath import UPath

from xl_pipelines.settings import LOCAL_PROTOCOLS

PART_FILE = "part-0.parquet"
KEY_FINGERPRINT = "_pseudonym_key.json"  # beside the layers: which key the lake's pseudonyms are made with
LAYERS = ("bronze", "silver", "gold", "quarantine")
STALE_AFTER_S = 6 * 3600  # a temporary file whose writer cannot be told alive or dead is stale after this long
_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)-[0-9a-f]{12}\.tmp(\.wal)?$")


def temp_beside(path: Path) -> Path:
    """A dot-name beside `path` no other writer uses (its PID and a random part), so concurrent writers of one
    file never collide and a dead writer's leftovers can be told apart: `.<name>.<pid>-<random>.tmp`."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def written_beside(path: Path, replace: bool = True) -> Iterator[Path]:
    """The one atomic write: yield a temporary path beside `path` (temp_beside) to write the new file to; when
    the block ends without error it is swapped in (`replace`), or, with replace=False, linked in only if `path`
    does not exist yet (the first writer's file stands). A reader sees the old file or the new one, never half of
    one; on any failure (a full disk) the temporary file (and a DuckDB `.wal` beside it) is removed and `path`
    stays as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        yield tmp
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


def replace_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (written_beside)."""
    with written_beside(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine with `pid` runs (another user's counts; a killed one not yet reaped,
    a zombie, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): kill said it exists
        return True


def remove_stale_temps(roots: list[Path], skip: tuple[Path | UPath, ...] = (), now: float | None = None) -> list[Path]:
    """Remove the temporary files a killed writer left under `roots` (not descending into `skip`): those whose
    writer's PID (in the name) no longer runs on this machine, and any dot-named `.tmp` older than
    STALE_AFTER_S. Returns what was removed."""
    now = time.time() if now is None else now
    removed, skipped = [], {os.path.abspath(p) for p in skip if not isinstance(p, UPath)}  # a store is no folder here
    for root in roots:
        for folder, folders, names in os.walk(root):
            folders[:] = [f for f in folders if os.path.join(folder, f) not in skipped]
            for name in names:
                if not (name.startswith(".") and (name.endswith(".tmp") or name.endswith(".tmp.wal"))):
                    continue
                path = Path(folder) / name
                match = _TEMP.match(name)
                try:
                    if (match and not pid_alive(int(match["pid"]))) or now - path.lstat().st_mtime > STALE_AFTER_S:
                        path.unlink()
                        removed.append(path)
                except FileNotFoundError:  # its writer finished meanwhile
                    continue
    return removed


# DuckDB must never fetch an extension (httpfs for s3://…): the network is isolated, and the object store is
# reached through the lake's own fsspec filesystem instead (connect).
NO_EXTENSION_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(database: str = ":memory:", read_only: bool = False, urls: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """Every DuckDB connection xl opens: extensions are never installed or loaded on demand, and the object
    stores among `urls` (e.g. the lake's s3://…) are reachable (reach)."""
    con = duckdb.connect(database, read_only=read_only, config=NO_EXTENSION_DOWNLOADS)
    reach(con, urls)
    return con


# One DuckDB instance per process for scratch(): a new in-memory database costs about 15 CPU ms whatever its
# settings, a cursor of one with an in-memory database attached to it about 1 ms. Keyed by the process: it is
# dropped before a fork (a DuckDB instance's threads do not cross one) and made anew on first use after. Beside
# it, the object-store filesystem registered on it under each protocol name (registering is instance-wide).
_SHARED: dict[int, tuple[duckdb.DuckDBPyConnection, dict[str, object]]] = {}
_SCRATCH_NAMES = itertools.count()
os.register_at_fork(before=_SHARED.clear)


@contextlib.contextmanager
def scratch(urls: tuple[str, ...] = ()) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of its own to an empty in-memory database, for one block: what it creates (schemas, tables,
    macros, views, registered frames) and what it SETs for its session are its own and dropped at the end, as with
    connect(), at a fifteenth of the cost. The database is attached to this process's one DuckDB instance and made
    the connection's default (USE); its settings are connect()'s. An object store whose protocol the instance
    already reaches through another filesystem (other credentials or endpoint) gets connect() itself."""
    if (pid := os.getpid()) not in _SHARED:
        _SHARED.clear()
        _SHARED[pid] = (connect(), {})
    shared, registered = _SHARED[pid]
    stores = _stores(urls)
    if any(registered.setdefault(protocol, fs) is not fs for protocol, fs in stores.items()):
        with connect(urls=urls) as con:
            yield con
        return
    name = f"scratch_{next(_SCRATCH_NAMES)}"
    con = shared.cursor()
    try:
        con.execute(f"ATTACH ':memory:' AS {name}")
        con.execute(f"USE {name}")
        reach(con, urls)
        yield con
    finally:
        con.close()
        with shared.cursor() as detaching:
            detaching.execute(f"DETACH DATABASE IF EXISTS {name}")


def _stores(urls) -> dict[str, object]:
    """DuckDB's name for the protocol of each object-store URL in `urls` → its fsspec filesystem."""
    stores = {}
    for url in urls:
        path = UPath(url)
        if path.protocol not in LOCAL_PROTOCOLS:
            stores[path.fs.protocol if isinstance(path.fs.protocol, str) else path.fs.protocol[0]] = path.fs
    return stores


def reach(con: duckdb.DuckDBPyConnection, urls) -> None:
    """Register the fsspec filesystem of each object-store URL in `urls` on `con` (once per protocol), so
    `read_parquet`, `glob` and `COPY` reach it with the environment's credentials and endpoint
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL…)."""
    for name, fs in _stores(urls).items():
        if not con.filesystem_is_registered(name):
            con.register_filesystem(fs)


def partition_dir(keys: Mapping[str, str]) -> str:
    """`date=2026-11-20/banner=150502` from ordered partition keys."""
    return "/".join(f"{k}={v}" for k, v in keys.items())


@dataclass(frozen=True)
class Lake:
    """The lake at `url` (a local path or an fsspec URL such as s3://bucket/lake)."""

    url: str

    @functools.cached_property
    def root(self) -> UPath:  # made once: a banner-day asks for a few hundred paths below it
        return UPath(self.url)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection that reads (and writes) this lake, wherever it lies."""
        return connect(urls=(self.url,))

    def scratch(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A scratch connection (the module's scratch) that reads this lake, wherever it lies."""
        return scratch(urls=(self.url,))

    def _below(self, layer: str, *parts: str) -> UPath:
        """The path of `parts` below a layer, joined at once (a third of the cost of joining them one by one). Empty
        parts (a table not partitioned) are left out: an S3 path would keep them as `//`, another key."""
        if layer not in LAYERS:
            raise ValueError(f"unknown lake layer {layer!r}; expected one of {LAYERS}")
        return self.root.joinpath(layer, *filter(None, parts))

    def table_path(self, layer: str, table: str) -> UPath:
        return self._below(layer, table)

    def partition_path(self, layer: str, table: str, keys: Mapping[str, str]) -> UPath:
        return self._below(layer, table, partition_dir(keys), PART_FILE)

    def write(self, layer: str, table: str, keys: Mapping[str, str],
              frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
        """Replace one partition with `frame`, atomically. Partition columns live in the path, not the file. An eager
        frame is returned as the file holds it (for checks to judge without reading it back: `read` gives it
        equal, tests/test_lake.py); a LazyFrame is streamed into the file, never held whole (a harvest's spilled
        pieces), and its plan is returned: what the file holds is read back to judge it."""
        frame = frame.drop([k for k in keys if k in frame.collect_schema().names()])
        write = frame.sink_parquet if isinstance(frame, pl.LazyFrame) else frame.write_parquet
        target = self.partition_path(layer, table, keys)
        if target.protocol in LOCAL_PROTOCOLS:
            with written_beside(Path(target.path)) as tmp:
                write(tmp, compression="zstd", statistics=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            write(buffer, compression="zstd", statistics=True)
            target.write_bytes(buffer.getvalue())
        return frame

    def exists(self, layer: str, table: str, keys: Mapping[str, str]) -> bool:
        return self.partition_path(layer, table, keys).exists()

    def read(self, layer: str, table: str, keys: Mapping[str, str], columns: list[str] | None = None) -> pl.DataFrame:
        """One partition (or those of its `columns`); raises FileNotFoundError with the path if it has not been
        materialised."""
        with self._open(layer, table, keys) as fh:
            return pl.read_parquet(fh, columns=columns)

    def count(self, layer: str, table: str, keys: Mapping[str, str]) -> int:
        """Rows in one partition, from the Parquet footer alone (what landed, read back independently)."""
        with self._open(layer, table, keys) as fh:
            return pq.ParquetFile(fh).metadata.num_rows

    def columns(self, layer: str, table: str, keys: Mapping[str, str]) -> list[str]:
        """The columns of one partition's file, from its footer alone."""
        with self._open(layer, table, keys) as fh:
            return pq.ParquetFile(fh).schema_arrow.names

    def _open(self, layer: str, table: str, keys: Mapping[str, str]):
        path = self.partition_path(layer, table, keys)
        if not path.exists():
            raise FileNotFoundError(f"lake partition not materialised yet: {path}")
        return path.open("rb")

    def tables(self) -> list[tuple[str, str]]:
        """Every (layer, table) that holds at least one partition directory."""
        found = []
        for layer in LAYERS:
            base = self.root / layer
            if base.exists():
                found += [(layer, p.name) for p in sorted(base.iterdir()) if p.is_dir()]
        return found

    def partition_columns(self, layer: str, table: str) -> list[str]:
        """Names of the first partition level of a table (e.g. ['date', 'banner'])."""
        path = self.table_path(layer, table)
        keys: list[str] = []
        while True:
            child = next((p for p in sorted(path.iterdir()) if p.is_dir() and "=" in p.name), None)
            if child is None:
                return keys
            keys.append(child.name.split("=", 1)[0])
            path = child

    def key_fingerprint_path(self) -> UPath:
        return self.root / KEY_FINGERPRINT

    def key_fingerprint(self) -> dict | None:
        """The recorded fingerprint of the pseudonym key (pseudonym.new_fingerprint), or None before the first."""
        path = self.key_fingerprint_path()
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def record_key_fingerprint(self, record: dict, replace: bool = False) -> dict:
        """Record `record` unless one is there (`replace`: a rotation), and return the one that stands.

        Locally the file appears whole and only once (written_beside, linked in unless `replace`): if another
        run recorded first, its record stands; on object storage a single PUT.
        """
        path = self.key_fingerprint_path()
        text = json.dumps(record, indent=1)
        if path.protocol not in LOCAL_PROTOCOLS:
            path.parent.mkdir(parents=True, exist_ok=True)
            if replace or not path.exists():
                path.write_text(text, encoding="utf-8")
            return self.key_fingerprint()
        with written_beside(Path(path.path), replace=replace) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return self.key_fingerprint()
