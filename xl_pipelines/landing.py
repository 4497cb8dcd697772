"""What harvest may read from the landing zone and recording storage, and how it reads it.

Both are a local folder or an object store (`s3://bucket/prefix`, settings.location); one set of rules judges
what either holds. Only regular files below their root, reached without a symbolic link, of a size their
source's limit allows and not compressed (the contract names plain XML, CSV, JSONL and video) are read.
Everything else is refused by name, never opened for its content: a link could lead anywhere on the machine
(`/etc/passwd`), a FIFO would block a read forever, a device file could be endless, and gzip under a plain name
would be inflated by Polars (2 MB into 13 GiB). Refused files are quarantined as one record each, so read =
accepted + quarantined still holds. Local files are opened with O_NOFOLLOW | O_NONBLOCK and checked again on
the open descriptor, so a file swapped after the listing is not followed either. An object store has no links,
FIFOs or devices; a key that is a folder prefix is refused as a folder, and an object is read up to the size it
had when opened, checked against its source's limit again.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import fnmatch
import functools
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl
import yaml

from xl_pipelines.gates import QUALITY_DIR
from xl_pipelines.settings import ConfigError, Where

# Leading bytes of the compressed formats a reader (Polars, libxml2, FFmpeg) might inflate behind our back.
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
         b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"PK\x07\x08": "zip", b"\x04\x22\x4d\x18": "lz4",
         b"7z\xbc\xaf\x27\x1c": "7z"}
_LEADS = frozenset(magic[0] for magic in MAGIC) | {0x78}  # a first byte no format starts with: not compressed
REFUSED_SCHEMA = {"source_file": pl.String, "reason": pl.String, "detail": pl.String}
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
LINK = "a symbolic link: never followed, wherever it points"
_ONE_LEVEL = re.compile(r"(?!.*\*\*)[^/]*[*?\[][^/]*")  # a pattern of names in one folder, with a wildcard
# EMPTY_RANGE: an S3 store refuses a byte range of an empty object (416 InvalidRange, EINVAL from s3fs): it is empty
# The listed files being harvested and their sources' limits (Listing.reading): a read re-checks against these
_READING: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("landing_reading", default=None)


class Refused(OSError):
    """A file harvest will not read, with the quarantine reason and a message naming no content."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@functools.cache
def limits(path: Path = QUALITY_DIR / "thresholds.yaml") -> dict[str, int]:
    """Landing folder (and `recordings`) → the largest file harvest reads, in bytes (`landing_max_mb`)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))["landing_max_mb"]
        return {folder: int(float(mb) * 2**20) for folder, mb in raw.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read landing_max_mb ({exc})") from None


def _uncompressed(head: bytes) -> None:
    """Refused when a file's first bytes are a compressed format's."""
    if found := compression(head):
        raise Refused("compressed", f"{found} data: the contract names uncompressed files only")


def compression(head: bytes) -> str | None:
    """The compressed format `head` (a file's first bytes) starts with, if any (zlib by its header checksum)."""
    if not head or head[0] not in _LEADS:  # text, the usual case, is told by its first byte alone
        return None
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    return None


def _kind(mode: int) -> str:
    """What a local entry is, by its mode: `file`, `link` or what else it is, in words."""
    return ("file" if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device file")


def _judge(kind: str, size: int, limit: int) -> None:
    """Refused unless the entry (`kind` as _kind names it; an object store's are `file` or `a directory`) is a
    regular file within `limit` bytes."""
    if kind == "link":
        raise Refused("symlink", LINK)
    if kind != "file":
        raise Refused("not_regular_file", f"{kind}, not a regular file")
    if size > limit:
        raise Refused("too_large", f"{size:,} bytes, over this source's limit of {limit:,} "
                                   "(landing_max_mb in quality/thresholds.yaml)")


def _descriptor(path: Path, limit: int) -> tuple[int, int]:
    """An open descriptor of `path` and its size, if it is a regular file within `limit`; Refused otherwise.
    Never follows a link in its last component, never blocks on a FIFO."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise Refused("symlink", LINK) from None
        raise Refused("not_regular_file", f"cannot be opened ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        _judge(_kind(st.st_mode), st.st_size, limit)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _open(path: Where, limit: int) -> tuple[BinaryIO, int]:
    """`path` opened for reading and the size it has now, if it is still a regular file within `limit`.
    An object is read with a fresh look at it (never an earlier listing's), and never past that size."""
    if isinstance(path, Path):
        fd, size = _descriptor(path, limit)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb"), size
    path.fs.invalidate_cache(path.path)
    try:
        info = path.fs.info(path.path)
    except FileNotFoundError:
        raise Refused("not_regular_file", "cannot be opened (no such object)") from None
    _judge("file" if info["type"] == "file" else "a directory", info["size"], limit)
    return path.fs.open(path.path, "rb", size=info["size"]), info["size"]


def _limit(path: Where, limit: int | None, besides: str | None = None) -> int:
    """`limit`, else the limit of the source `path` was listed from (Listing.reading), else the largest
    source limit `besides` that folder's."""
    if limit is not None:
        return limit
    return (_READING.get() or {}).get(str(path)) or max(mb for folder, mb in limits().items() if folder != besides)


def open_file(path: Where, limit: int | None = None) -> BinaryIO:
    """`path` opened for reading if it is still a regular file within the limit (its source's, see _limit);
    Refused otherwise."""
    return _open(path, _limit(path, limit))[0]


def read_bytes(path: Where, limit: int | None = None) -> bytes:
    """A listed landing file's bytes, at most the size it had when opened (so at most its source's limit),
    refused again if it became a link, a FIFO, too large or compressed since it was listed. An object is
    read with one request for at most one byte more than the limit (more is too large)."""
    limit = _limit(path, limit, besides="recordings")
    if isinstance(path, Path):  # read on the checked descriptor itself: a city-day reads 0.6 M small files
        fd, size = _descriptor(path, limit)
        try:
            data = os.read(fd, size)
            while len(data) < size and (more := os.read(fd, size - len(data))):
                data += more
        finally:
            os.close(fd)
    else:
        try:
            data = path.fs.cat_file(path.path, start=0, end=limit + 1)
        except FileNotFoundError:
            raise Refused("not_regular_file", "cannot be opened (no such object)") from None
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            data = b""  # EMPTY_RANGE
        if len(data) > limit:
            _judge("file", max(len(data), _entry(path)[1]), limit)
    _uncompressed(data[:8])
    return data


@dataclass(frozen=True)
class Listing:
    """The files of a folder harvest will read, those it refused (`source_file`, `reason`, `detail`), and
    each listed file's source limit (`limits`, by file name), checked again when it is read."""

    files: list[Where] = field(default_factory=list)
    refused: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REFUSED_SCHEMA))
    limits: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Listing) -> Listing:
        return Listing(self.files + other.files, pl.concat([self.refused, other.refused]),
                       self.limits | other.limits)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Within the block, every read of a listed file is checked against its own source's limit."""
        token = _READING.set((_READING.get() or {}) | self.limits)
        try:
            yield
        finally:
            _READING.reset(token)


def _linked(root: Where, path: Where) -> Where | None:
    """The first folder (or the file) below `root` on `path` that is a symbolic link, if any (an object
    store has none)."""
    if not isinstance(path, Path):
        return None
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _peek(path: Path, limit: int) -> None:
    """Refused unless `path` opens as a regular file within `limit` whose first bytes are not compressed."""
    fd, _ = _descriptor(path, limit)
    try:
        _uncompressed(os.read(fd, 8))
    finally:
        os.close(fd)


def _heads(paths: list[Where]) -> dict[Where, bytes | Exception]:
    """The first bytes of the objects among `paths`, fetched all at once (one request each, concurrently):
    an object store answers many small requests together far sooner than one after another."""
    remote = [p for p in paths if not isinstance(p, Path)]
    if not remote:
        return {}
    heads = remote[0].fs.cat_ranges([p.path for p in remote], 0, 8, on_error="return")
    return {path: b"" if isinstance(head, OSError) and head.errno == errno.EINVAL else head  # EMPTY_RANGE
            for path, head in zip(remote, heads, strict=True)}


def _entry(path: Where) -> tuple[str, int]:
    """What `path` is (_kind's words) and its size, without following a link or opening it."""
    if isinstance(path, Path):
        st = path.lstat()
        return _kind(st.st_mode), st.st_size
    info = path.fs.info(path.path)
    return ("file" if info["type"] == "file" else "a directory"), info["size"]


def folders(folder: Where) -> list[Where]:
    """The folders directly in `folder`, in name order; links are left out (never followed)."""
    if isinstance(folder, Path):
        return sorted(p for p in folder.glob("*") if p.is_dir() and not p.is_symlink())
    return sorted((p for p in matching(folder, "*") if p.is_dir()), key=lambda p: p.parts)


def exists(path: Where) -> bool:
    """Whether anything is at `path` (a link counts, even a broken one: it is refused, not missing)."""
    return os.path.lexists(path) if isinstance(path, Path) else path.exists()


def vet(base: Where, paths: list[Where], limit: int, regular: Sequence[bool] = ()) -> Listing:
    """Split `paths` (below `base`, a folder reached without a link) into files to read and files refused,
    judged by their names and first bytes only. `regular`: for each path, whether its folder's listing
    already says it is a regular file; such a file is not looked at before it is opened (the open checks
    it again), anything else is judged by its own entry first, so it is refused in the words _kind gives."""
    files, refused, folders = [], [], {str(base): None}
    heads = _heads(paths)
    for path, listed_regular in zip(paths, regular or [False] * len(paths), strict=True):
        try:
            if (parent := os.path.dirname(str(path))) not in folders:  # many files share a folder: looked at once
                folders[parent] = _linked(base, path.parent)
            if (link := folders[parent]) is not None:
                raise Refused("symlink", f"below the symbolic link {link.name}/: never followed")
            if not listed_regular:
                _judge(*_entry(path), limit)
            if isinstance(path, Path):
                _peek(path, limit)
            elif isinstance(head := heads[path], bytes):
                _uncompressed(head)
            else:  # gone since it was listed
                raise Refused("not_regular_file", "cannot be opened (no such object)")
            files.append(path)
        except Refused as refusal:
            refused.append({"source_file": str(link or path),
                            "reason": refusal.reason, "detail": str(refusal)})
    # files below one linked folder are one record: the link, named once
    frame = pl.DataFrame(refused, schema=REFUSED_SCHEMA).unique("source_file", keep="first", maintain_order=True)
    return Listing(files, frame, dict.fromkeys(map(str, files), limit))


def matching(folder: Where, pattern: str) -> list[Where]:
    """The entries of `folder` matching `pattern`, from a fresh listing (a worker outlives many runs: an
    object store's listing is never taken from an earlier one's cache)."""
    if isinstance(folder, Path):
        return list(folder.glob(pattern))
    folder.fs.invalidate_cache()
    prefix = folder.path.rstrip("/") + "/"
    return [folder.joinpath(name.removeprefix(prefix)) for name in folder.fs.glob(prefix + pattern)]


def _entries(folder: Path, pattern: str, hidden: bool) -> list[tuple[str, bool]]:
    """The names in `folder` matching the one-level `pattern` as Path.glob matches them (nothing when there is
    no such folder), dot-names only if `hidden`, in name order, each with whether the folder's listing says
    it is a regular file (the type the directory itself records: no look at each file)."""
    match = re.compile(fnmatch.translate(pattern)).fullmatch
    try:
        with os.scandir(folder) as entries:
            return sorted((entry.name, entry.is_file(follow_symlinks=False)) for entry in entries
                          if match(entry.name) and (hidden or not entry.name.startswith(".")))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def list_files(root: Where, folder: Where, pattern: str, limit: int, hidden: bool = False) -> Listing:
    """The entries of `folder` (below `root`) matching `pattern`, in name order, vetted. Dot-names (files still
    being written) are left out unless `hidden`. A linked `folder` itself is one refused record."""
    if (link := _linked(root, folder)) is not None:
        return Listing(refused=pl.DataFrame([{"source_file": str(link), "reason": "symlink",
                                              "detail": LINK}],
                                            schema=REFUSED_SCHEMA))
    if isinstance(folder, Path) and _ONE_LEVEL.fullmatch(pattern):  # a city-day's folder of 0.1 M answers
        names = _entries(folder, pattern, hidden)
        return vet(folder, [folder / name for name, _ in names], limit, [regular for _, regular in names])
    found = sorted((p for p in matching(folder, pattern) if hidden or not p.name.startswith(".")),
                   key=lambda p: p.parts)
    return vet(folder, found, limit)


def refused_rows(listing: Listing, source: str, schema: pl.Schema) -> pl.DataFrame:
    """A listing's refused files as quarantine rows of `schema` (item 0: the whole file; no raw text)."""
    rows = listing.refused.select(pl.lit(source).alias("source"), "source_file", pl.lit(0, pl.Int64).alias("item"),
                                  pl.lit(None, pl.String).alias("record_id"), "reason", "detail",
                                  pl.lit(None, pl.String).alias("raw"))
    return pl.concat([pl.DataFrame(schema=schema), rows], how="diagonal_relaxed").select(list(schema))
