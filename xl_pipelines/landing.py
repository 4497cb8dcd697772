"""What harvest may read from the landing zone and recording storage, and how it reads it.

Only regular files below their root, reached without a symbolic link, of a size the source's limit allows and
not compressed (the contract names plain XML, CSV, JSONL and video) are read. Everything else a folder holds
is refused by name, never opened for its content: a link could lead anywhere on the machine (`/etc/passwd`), a
FIFO would block a read forever, a device file could be endless, and gzip under a plain name would be inflated
by Polars (2 MB into 13 GiB). Refused files are quarantined as one record each, so read = accepted + quarantined
still holds. Files are opened with O_NOFOLLOW | O_NONBLOCK and checked again on the open descriptor, so a file
swapped after the listing is not followed either.
"""

from __future__ import annotations

import fcntl
import functools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl
import yaml

from xl_pipelines.gates import QUALITY_DIR
from xl_pipelines.settings import ConfigError

# Leading bytes of the compressed formats a reader (Polars, libxml2, FFmpeg) might inflate behind our back.
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
         b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"PK\x07\x08": "zip", b"\x04\x22\x4d\x18": "lz4",
         b"7z\xbc\xaf\x27\x1c": "7z"}
REFUSED_SCHEMA = {"source_file": pl.String, "reason": pl.String, "detail": pl.String}
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
LINK = "a symbolic link: never followed, wherever it points"


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
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    return None


def _judge(st: os.stat_result, limit: int) -> None:
    """Refused unless `st` (of an open descriptor or a listed name) is a regular file within `limit` bytes."""
    if stat.S_ISLNK(st.st_mode):
        raise Refused("symlink", LINK)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device file")
        raise Refused("not_regular_file", f"{kind}, not a regular file")
    if st.st_size > limit:
        raise Refused("too_large", f"{st.st_size:,} bytes, over this source's limit of {limit:,} "
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
        _judge(st, limit)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def open_file(path: Path, limit: int | None = None) -> BinaryIO:
    """`path` opened for reading if it is still a regular file within the limit (the largest of any source
    unless given); Refused otherwise."""
    fd, _ = _descriptor(path, max(limits().values()) if limit is None else limit)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """A listed landing file's bytes, at most the size it had when opened (so at most the limit: the largest of
    the landing folders' unless given), refused again if it became a link, a FIFO, too large or compressed
    since it was listed."""
    if limit is None:
        limit = max(size for folder, size in limits().items() if folder != "recordings")
    fd, left = _descriptor(path, limit)
    chunks = []
    try:
        while left > 0 and (chunk := os.read(fd, min(left, 2**30))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    _uncompressed(data[:8])
    return data


@dataclass(frozen=True)
class Listing:
    """The files of a folder harvest will read, and those it refused (`source_file`, `reason`, `detail`)."""

    files: list[Path] = field(default_factory=list)
    refused: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REFUSED_SCHEMA))

    def __add__(self, other: Listing) -> Listing:
        return Listing(self.files + other.files, pl.concat([self.refused, other.refused]))


def _linked(root: Path, path: Path) -> Path | None:
    """The first folder (or the file) below `root` on `path` that is a symbolic link, if any."""
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


def vet(base: Path, paths: list[Path], limit: int) -> Listing:
    """Split `paths` (below `base`, a folder reached without a link) into files to read and files refused,
    judged by their names and first bytes only."""
    files, refused, folders = [], [], {base: None}
    for path in paths:
        try:
            if path.parent not in folders:  # many files share a folder: its way is looked at once
                folders[path.parent] = _linked(base, path.parent)
            if (link := folders[path.parent]) is not None:
                raise Refused("symlink", f"below the symbolic link {link.name}/: never followed")
            _judge(path.lstat(), limit)
            _peek(path, limit)
            files.append(path)
        except Refused as refusal:
            refused.append({"source_file": str(link or path),
                            "reason": refusal.reason, "detail": str(refusal)})
    # files below one linked folder are one record: the link, named once
    frame = pl.DataFrame(refused, schema=REFUSED_SCHEMA).unique("source_file", keep="first", maintain_order=True)
    return Listing(files, frame)


def list_files(root: Path, folder: Path, pattern: str, limit: int, hidden: bool = False) -> Listing:
    """The entries of `folder` (below `root`) matching `pattern`, in name order, vetted. Dot-names (files still
    being written) are left out unless `hidden`. A linked `folder` itself is one refused record."""
    if (link := _linked(root, folder)) is not None:
        return Listing(refused=pl.DataFrame([{"source_file": str(link), "reason": "symlink",
                                              "detail": LINK}],
                                            schema=REFUSED_SCHEMA))
    found = sorted(p for p in folder.glob(pattern) if hidden or not p.name.startswith("."))
    return vet(folder, found, limit)


def refused_rows(listing: Listing, source: str, schema: pl.Schema) -> pl.DataFrame:
    """A listing's refused files as quarantine rows of `schema` (item 0: the whole file; no raw text)."""
    rows = listing.refused.select(pl.lit(source).alias("source"), "source_file", pl.lit(0, pl.Int64).alias("item"),
                                  pl.lit(None, pl.String).alias("record_id"), "reason", "detail",
                                  pl.lit(None, pl.String).alias("raw"))
    return pl.concat([pl.DataFrame(schema=schema), rows], how="diagonal_relaxed").select(list(schema))
